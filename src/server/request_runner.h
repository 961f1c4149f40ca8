#pragma once
// What the HTTP endpoints share to run generations: the serving context (the
// engine, tokenizer, chat template, metrics), admission control (a bounded
// queue, refusal while shutting down) and ChoiceRun, which submits one HTTP
// request's engine requests and merges their events.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/request.h"
#include "server/metrics.h"
#include "server/openai_protocol.h"
#include "server/tool_call_parser.h"

namespace httplib {
struct Request;
struct Response;
}

namespace strata {

class ChatTemplate;
class Engine;
class Model;
class Tokenizer;

// Bounds the requests waiting for their first token and tracks HTTP
// generations in progress, so a shutdown can refuse new ones and drain.
class AdmissionControl {
 public:
  explicit AdmissionControl(int32_t max_queued) : max_queued_(max_queued) {}

  // Reserves `n` queue places for a new HTTP request. Throws ApiError 503
  // while draining, 429 (with retry_after_seconds) when the queue is full.
  void admit(int32_t n);
  // One queued request reached its first token (or ended): its place frees.
  void release_place();
  // One admitted HTTP request has answered completely.
  void leave();

  void begin_drain() { draining_ = true; }
  bool draining() const { return draining_; }
  // Shutdown past its timeout: every running generation aborts itself.
  void abort_all() { aborting_ = true; }
  bool aborting() const { return aborting_; }
  // Waits until no admitted HTTP request is in progress; false on timeout.
  bool wait_idle(std::chrono::milliseconds timeout);
  int32_t in_progress() const;

  static constexpr int kRetryAfterSeconds = 1;

 private:
  const int32_t max_queued_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> aborting_{false};
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  int32_t queued_ = 0;       // engine requests without a first token
  int32_t in_progress_ = 0;  // HTTP requests admitted and not yet answered
};

struct ServingOptions {
  std::string served_model_name;
  std::string model_root;  // the path the model was loaded from (/v1/models "root")
  int32_t max_queued_requests = 1024;
  // Events one HTTP request's client may fall behind by (a stream read more
  // slowly than tokens come) before the request is aborted: the server's
  // memory per stream stays bounded. The socket's buffers hold more.
  int32_t max_pending_events = 4096;
  std::string tool_call_parser = "auto";  // auto (from the chat template), hermes, qwen3, kimi_k2, minimax_m2 or none
};

// Everything a request handler needs; built once the model is loaded.
struct ServingContext {
  ServingContext(const Model& model, Engine& engine, const ServingOptions& options);
  ~ServingContext();

  const Model& model;
  Engine& engine;
  const Tokenizer& tokenizer;
  std::string served_model_name;
  std::string model_root;
  int32_t max_model_len;
  int64_t created;  // unix time the server started serving
  std::unique_ptr<ChatTemplate> chat_template;     // null: the model ships none
  std::optional<ToolCallFormat> tool_call_format;  // null: tool calls are not parsed
  bool parse_reasoning = false;  // the template knows <think>: split reasoning from content
  // Markers that end reasoning without </think>: the tool-call section's opening (Kimi-K2).
  std::vector<std::string_view> reasoning_implicit_ends;
  // chat_template_kwargs {"thinking": false} turns the reasoning split off,
  // as vLLM's kimi_k2 reasoning parser does (it becomes the identity parser).
  bool thinking_kwarg_switches_reasoning = false;
  // The parsers' markers are special tokens of this vocabulary (Kimi K2), so
  // chat replies are decoded with them unless the request sets
  // skip_special_tokens, as vLLM's kimi_k2 parser arranges.
  bool markers_are_special = false;
  int32_t max_pending_events;
  ServerMetrics metrics;
  AdmissionControl admission;
};

// The engine requests of one HTTP request: each prompt submitted n times
// (choice index = prompt index * n + copy). Destroying it aborts whatever is
// unfinished, which is how a client that went away frees its KV blocks.
class ChoiceRun {
 public:
  // Admits and submits. Throws ApiError (429/503 from admission, 400 when
  // the engine refuses a request).
  ChoiceRun(ServingContext& ctx, const std::vector<std::vector<int32_t>>& prompts,
            const std::vector<GenerationParams>& params, int32_t n);
  ~ChoiceRun();
  ChoiceRun(const ChoiceRun&) = delete;
  ChoiceRun& operator=(const ChoiceRun&) = delete;

  struct Event {
    int32_t index = 0;
    StreamEvent event;
  };
  // The next event of any choice, waiting up to `timeout`; nullopt on
  // timeout or once every choice has finished. Aborts the run when the
  // server is shutting down past its drain timeout.
  std::optional<Event> next(std::chrono::milliseconds timeout);
  bool finished() const;
  int32_t num_choices() const { return int32_t(request_ids_.size()); }
  void abort();

 private:
  struct Shared;
  ServingContext& ctx_;
  std::shared_ptr<Shared> shared_;
  std::vector<int64_t> request_ids_;
};

// The next event of a non-streamed request, waiting briefly. Between
// events it asks whether the client is still connected and aborts the run
// if not, so a client that went away frees its KV blocks instead of letting
// the request run to max_tokens. Polling, because cpp-httplib gives a
// handler no notice of a disconnect: only a check of the socket.
std::optional<ChoiceRun::Event> next_while_connected(ChoiceRun& run, const httplib::Request& req);

// Answers with a text/event-stream fed by `produce`, which appends SSE
// frames to its argument (waiting briefly for events) and returns false once
// the stream is complete. A failed write means the client went away: the
// run is aborted. Idle streams get comment lines, which notice a vanished
// client while a request is still queued.
void stream_sse(httplib::Response& res, std::shared_ptr<ChoiceRun> run, std::function<bool(std::string&)> produce);

// "data: <json>\n\n"
std::string sse_frame(const std::string& json);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

// The end of an OpenAI stream: the usage chunk (`head` with no choices) when
// the client asked for it, then "data: [DONE]".
std::string sse_stream_end(const nlohmann::ordered_json& head, bool include_usage, const UsageTotals& usage);

}  // namespace strata
