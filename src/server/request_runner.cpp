#include "server/request_runner.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <deque>

#include <fmt/core.h>

#include "core/error.h"
#include "engine/engine.h"
#include "model/model.h"
#include "server/chat_template.h"
#include "server/openai_protocol.h"
#include "server/reasoning_parser.h"
#include "tokenizer/tokenizer.h"

namespace strata {

using Clock = std::chrono::steady_clock;

void AdmissionControl::admit(int32_t n) {
  if (draining_) throw ApiError(503, "the server is shutting down", {}, "shutting_down");
  std::lock_guard lock(mutex_);
  if (queued_ + n > max_queued_) {
    ApiError error(429,
                   fmt::format("the request queue is full ({} requests waiting, limit {}); retry later", queued_,
                               max_queued_),
                   {}, "queue_full");
    error.with("retry_after_seconds", kRetryAfterSeconds);
    throw error;
  }
  queued_ += n;
  in_progress_++;
}

void AdmissionControl::release_place() {
  std::lock_guard lock(mutex_);
  queued_--;
}

void AdmissionControl::leave() {
  {
    std::lock_guard lock(mutex_);
    in_progress_--;
  }
  idle_.notify_all();
}

bool AdmissionControl::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [&] { return in_progress_ == 0; });
}

int32_t AdmissionControl::in_progress() const {
  std::lock_guard lock(mutex_);
  return in_progress_;
}

namespace {

std::optional<ToolCallFormat> tool_call_format_for(const std::string& parser, const std::string& chat_template) {
  if (parser == "none") return std::nullopt;
  if (parser != "auto") {
    auto format = ToolCallParser::format_named(parser);
    if (!format) fail("--tool-call-parser: unknown parser '{}' (known: auto, none, hermes, qwen3, kimi_k2, minimax_m2)", parser);
    return format;
  }
  return ToolCallParser::format_in_template(chat_template);
}

}  // namespace

ServingContext::ServingContext(const Model& model_, Engine& engine_, const ServingOptions& options)
    : model(model_),
      engine(engine_),
      tokenizer(model_.tokenizer()),
      served_model_name(options.served_model_name),
      model_root(options.model_root),
      max_model_len(engine_.config().max_model_len),
      created(unix_time()),
      max_pending_events(options.max_pending_events),
      metrics(options.served_model_name),
      admission(options.max_queued_requests) {
  if (options.max_queued_requests < 1) fail("--max-queued-requests must be at least 1");
  if (options.max_pending_events < 1) fail("max_pending_events must be at least 1");
  const std::string& source = tokenizer.chat_template();
  if (!source.empty()) {
    const auto bos = tokenizer.bos_id();
    const auto eos = tokenizer.eos_ids();
    chat_template = std::make_unique<ChatTemplate>(source, bos ? tokenizer.decode({*bos}) : std::string(),
                                                   eos.empty() ? std::string() : tokenizer.decode({eos.front()}));
  }
  tool_call_format = tool_call_format_for(options.tool_call_parser, source);
  parse_reasoning = source.find("</think>") != std::string::npos;
  // vLLM's kimi_k2 reasoning parser also ends the reasoning where the
  // tool-call section opens, and is off when the request sets thinking: false.
  if (tool_call_format == ToolCallFormat::KimiK2) {
    reasoning_implicit_ends = ToolCallParser::section_openers(ToolCallFormat::KimiK2);
    thinking_kwarg_switches_reasoning = true;
  }
  std::vector<std::string_view> markers;
  if (tool_call_format) markers = ToolCallParser::marker_strings(*tool_call_format);
  if (parse_reasoning) markers.insert(markers.end(), {ReasoningParser::kOpenTag, ReasoningParser::kCloseTag});
  for (std::string_view m : markers) {
    const auto id = tokenizer.token_id(m);
    markers_are_special |= id && tokenizer.is_special(*id);
  }
}

ServingContext::~ServingContext() = default;

// Shared with the engine's callbacks, which may outlive the ChoiceRun.
struct ChoiceRun::Shared {
  ServingContext* ctx = nullptr;
  Clock::time_point arrival = Clock::now();
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<Event> events;
  std::vector<std::optional<Clock::time_point>> last_token;  // per choice
  std::vector<bool> seen;                                    // per choice: any event delivered
  std::vector<bool> done;                                    // per choice: final event delivered
  int32_t unfinished = 0;                                    // choices whose final event is not yet taken

  // On the engine's thread: timing metrics, queue place, then the event.
  void deliver(int32_t index, const StreamEvent& event) {
    const Clock::time_point now = Clock::now();
    bool overflow = false;
    {
      std::lock_guard lock(mutex);
      auto& last = last_token[size_t(index)];
      if (!event.token_ids.empty()) {
        // One inter-token latency per engine output, as vLLM's: an output
        // with accepted draft tokens adds no zero-length gaps for them.
        const double since = std::chrono::duration<double>(now - (last ? *last : arrival)).count();
        if (last) {
          ctx->metrics.observe_inter_token_latency(since);
        } else {
          ctx->metrics.observe_time_to_first_token(since);
        }
        last = now;
      }
      // A choice's first event is its first token, or its end if it never
      // had one: either way it no longer waits in the queue.
      if (!seen[size_t(index)]) {
        seen[size_t(index)] = true;
        ctx->admission.release_place();
      }
      if (event.finish) {
        done[size_t(index)] = true;
        ctx->metrics.observe_request(std::chrono::duration<double>(now - arrival).count(), event.prompt_tokens,
                                     event.completion_tokens);
      }
      events.push_back({index, event});
      overflow = !event.finish && events.size() > size_t(ctx->max_pending_events);
    }
    ready.notify_all();
    // Engine calls back without holding its lock, so this thread may abort.
    if (overflow) ctx->engine.abort(event.request_id);
  }
};

ChoiceRun::ChoiceRun(ServingContext& ctx, const std::vector<std::vector<int32_t>>& prompts,
                     const std::vector<GenerationParams>& params, int32_t n)
    : ctx_(ctx), shared_(std::make_shared<Shared>()) {
  const int32_t total = int32_t(prompts.size()) * n;
  ctx.admission.admit(total);
  shared_->ctx = &ctx;
  shared_->last_token.resize(size_t(total));
  shared_->seen.resize(size_t(total), false);
  shared_->done.resize(size_t(total), false);
  shared_->unfinished = total;
  int32_t index = 0;
  try {
    for (size_t p = 0; p < prompts.size(); ++p) {
      for (int32_t copy = 0; copy < n; ++copy, ++index) {
        Request request;
        request.prompt = prompts[p];
        request.params = params[p];
        // Copies of one prompt share a seed only if the client fixed it;
        // vLLM offsets nothing either, so n seeded copies are identical.
        request.on_event = [shared = shared_, index](const StreamEvent& event) { shared->deliver(index, event); };
        request_ids_.push_back(ctx.engine.submit(std::move(request))->id());
      }
    }
  } catch (const std::exception& e) {
    for (int64_t id : request_ids_) ctx.engine.abort(id);
    // Places of requests never submitted are released here; submitted ones
    // release theirs through their abort event.
    for (int32_t i = index; i < total; ++i) ctx.admission.release_place();
    ctx.admission.leave();
    throw as_api_error(e);
  }
}

ChoiceRun::~ChoiceRun() {
  abort();
  ctx_.admission.leave();
}

void ChoiceRun::abort() {
  std::vector<int64_t> unfinished;
  {
    std::lock_guard lock(shared_->mutex);
    for (size_t i = 0; i < request_ids_.size(); ++i) {
      if (!shared_->done[i]) unfinished.push_back(request_ids_[i]);
    }
  }
  for (int64_t id : unfinished) ctx_.engine.abort(id);
}

std::optional<ChoiceRun::Event> ChoiceRun::next(std::chrono::milliseconds timeout) {
  if (ctx_.admission.aborting()) abort();
  std::unique_lock lock(shared_->mutex);
  if (shared_->unfinished == 0) return std::nullopt;
  if (!shared_->ready.wait_for(lock, timeout, [&] { return !shared_->events.empty(); })) return std::nullopt;
  Event event = std::move(shared_->events.front());
  shared_->events.pop_front();
  if (event.event.finish) shared_->unfinished--;
  return event;
}

bool ChoiceRun::finished() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->unfinished == 0;
}

std::optional<ChoiceRun::Event> next_while_connected(ChoiceRun& run, const httplib::Request& req) {
  // Also the longest a disconnect goes unnoticed while no event comes.
  constexpr auto kPoll = std::chrono::milliseconds(100);
  if (req.is_connection_closed()) run.abort();
  return run.next(kPoll);
}

// Idle streams send a comment line this often.
constexpr auto kKeepAlive = std::chrono::seconds(1);

std::string sse_frame(const std::string& json) { return "data: " + json + "\n\n"; }

std::string sse_stream_end(const nlohmann::ordered_json& head, bool include_usage, const UsageTotals& usage) {
  std::string out;
  if (include_usage) {
    nlohmann::ordered_json chunk = head;
    chunk["choices"] = nlohmann::ordered_json::array();
    chunk["usage"] = usage_json(usage);
    out += sse_frame(json_text(chunk));
  }
  return out + kSseDone;
}

void stream_sse(httplib::Response& res, std::shared_ptr<ChoiceRun> run, std::function<bool(std::string&)> produce) {
  auto last_write = std::make_shared<Clock::time_point>(Clock::now());
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream", [run, produce, last_write](size_t, httplib::DataSink& sink) {
        std::string out;
        bool more;
        try {
          more = produce(out);
        } catch (const std::exception& e) {
          // cpp-httplib calls providers outside its own try/catch: an escaping
          // exception would end the process, so end this stream instead.
          run->abort();
          out += sse_frame(as_api_error(e).body()) + kSseDone;
          more = false;
        }
        if (out.empty() && more && Clock::now() - *last_write > kKeepAlive) out = ": keep-alive\n\n";
        if (!out.empty()) {
          if (!sink.write(out.data(), out.size())) {
            run->abort();
            return false;
          }
          *last_write = Clock::now();
        }
        if (!more) sink.done();
        return true;
      });
}

}  // namespace strata
