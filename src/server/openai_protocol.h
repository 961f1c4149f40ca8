#pragma once
// The OpenAI wire format shared by /v1/completions and /v1/chat/completions:
// errors in OpenAI's schema, the sampling fields both endpoints accept
// (validated, with the offending field named), ids, usage and logprobs.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/request.h"

namespace strata {

class Tokenizer;

// A failed request, answered as
//   {"error": {"message", "type", "param", "code", ...extra}}
// with HTTP `status`. `param` and `code` are null when empty.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = {}, std::string code = {});
  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  // Machine-readable fields added to the error object.
  ApiError& with(std::string key, int64_t value);
  std::string body() const;

 private:
  int status_;
  std::string type_;  // from the status: invalid_request_error, authentication_error...
  std::string param_;
  std::string code_;
  std::vector<std::pair<std::string, int64_t>> extra_;
};

// The OpenAI error for any exception, chosen by its type and never by its
// message: an ApiError as it is; InvalidRequest 400 (the client's to fix);
// Unavailable 503; anything else, a Bug included, is the server's: 500.
ApiError as_api_error(const std::exception& e);

// HTTP 500 for a request the engine gave up on (StreamEvent::error), code
// "generation_failed"; streams send it as their last data frame.
ApiError generation_error(const std::string& why);

// HTTP 400 for a prompt that does not leave room for its completion, with
// vLLM's wording ("This model's maximum context length is N tokens. However,
// you requested M tokens (P in the messages, C in the completion)...") and
// the fields max_model_len, prompt_tokens and completion_tokens.
ApiError context_length_error(int32_t max_model_len, int32_t prompt_tokens, int32_t completion_tokens,
                              const std::string& prompt_param);

// What both endpoints read from a request body besides the prompt.
struct CompletionSettings {
  std::string model;  // empty when the client sent none
  int32_t n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // max_tokens / max_completion_tokens; unset: whatever the context leaves.
  std::optional<int32_t> max_tokens;
  GenerationParams params;  // params.max_tokens is set per prompt (see resolve_max_tokens)
};

enum class Endpoint { Completions, Chat };

// Reads and validates the shared fields; `defaults` are the model's
// generation_config sampling settings. Throws ApiError (400, naming the field).
CompletionSettings parse_completion_settings(const nlohmann::ordered_json& body, Endpoint endpoint,
                                             const SamplingParams& defaults);

// The completion budget for a prompt: the requested max_tokens, or all the
// context leaves. Throws context_length_error when they do not fit.
int32_t resolve_max_tokens(const CompletionSettings& settings, int32_t prompt_tokens, int32_t max_model_len,
                           const std::string& prompt_param);

// "<prefix>-<32 hex digits>", random.
std::string random_id(const std::string& prefix);
int64_t unix_time();

struct UsageTotals {
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  void add(const StreamEvent& final_event);
};
nlohmann::ordered_json usage_json(const UsageTotals& usage);

// The token's text as the logprobs fields show it.
std::string token_text(const Tokenizer& tokenizer, int32_t token);
// Chat: {"content": [{token, logprob, bytes, top_logprobs: [...]}]} entries
// for these tokens, appended to `content`.
void append_chat_logprobs(nlohmann::ordered_json& content, const Tokenizer& tokenizer,
                          const std::vector<TokenLogprob>& logprobs);
// Completions: appends to {tokens, token_logprobs, top_logprobs, text_offset};
// `text_offset` is the running character offset of the choice's text.
void append_completion_logprobs(nlohmann::ordered_json& logprobs, const Tokenizer& tokenizer,
                                const std::vector<TokenLogprob>& entries, int64_t& text_offset);
nlohmann::ordered_json empty_completion_logprobs();

// JSON text of a response; invalid UTF-8 (never expected) becomes U+FFFD
// rather than failing the response.
std::string json_text(const nlohmann::ordered_json& value);

// Reads a body as JSON, or throws ApiError 400.
nlohmann::ordered_json parse_body(const std::string& body);

}  // namespace strata

namespace strata {

// Throws ApiError 404 (vLLM's "The model `x` does not exist.") unless
// `requested` is empty or the served name.
void check_model_name(const std::string& requested, const std::string& served);

}  // namespace strata
