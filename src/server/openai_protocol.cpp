#include "server/openai_protocol.h"

#include <chrono>
#include <cmath>
#include <random>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "core/service_errors.h"
#include "server/request_limits.h"
#include "tokenizer/tokenizer.h"

namespace strata {

using json = nlohmann::ordered_json;

namespace {

std::string error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

ApiError bad_param(const std::string& param, const std::string& message) { return ApiError(400, message, param); }

// A field of the body, or nullptr when absent or null (OpenAI clients send
// null for "not given").
const json* field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number_field(const json& body, const char* key) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw bad_param(key, fmt::format("'{}' must be a number", key));
  return v->get<double>();
}

std::optional<int64_t> integer_field(const json& body, const char* key) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  // 5.0 is accepted as 5, as pydantic (and so vLLM) does.
  if (v->is_number_float() && std::trunc(v->get<double>()) == v->get<double>() && std::abs(v->get<double>()) < 9e15) {
    return int64_t(v->get<double>());
  }
  throw bad_param(key, fmt::format("'{}' must be an integer", key));
}

std::optional<bool> bool_field(const json& body, const char* key) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw bad_param(key, fmt::format("'{}' must be a boolean", key));
  return v->get<bool>();
}

int32_t int32_in(const char* key, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) throw bad_param(key, fmt::format("'{}' must be between {} and {} (got {})", key, lo, hi, value));
  return int32_t(value);
}

std::vector<std::string> stop_strings(const json& body) {
  const json* v = field(body, "stop");
  if (!v) return {};
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const json& s : *v) {
      if (!s.is_string()) throw bad_param("stop", "'stop' must be a string or a list of strings");
      out.push_back(s.get<std::string>());
    }
  } else {
    throw bad_param("stop", "'stop' must be a string or a list of strings");
  }
  if (int64_t(out.size()) > request_limits::kMaxStopStrings) {
    throw bad_param("stop", fmt::format("'stop' holds at most {} strings", request_limits::kMaxStopStrings));
  }
  for (const std::string& s : out) {
    if (s.empty()) throw bad_param("stop", "'stop' strings must not be empty");
    if (int64_t(s.size()) > request_limits::kMaxStopStringBytes) {
      throw bad_param("stop", fmt::format("'stop' strings are at most {} bytes", request_limits::kMaxStopStringBytes));
    }
  }
  return out;
}

std::vector<int32_t> stop_token_ids(const json& body) {
  const json* v = field(body, "stop_token_ids");
  if (!v) return {};
  if (!v->is_array()) throw bad_param("stop_token_ids", "'stop_token_ids' must be a list of token ids");
  if (int64_t(v->size()) > request_limits::kMaxStopTokenIds) {
    throw bad_param("stop_token_ids", fmt::format("'stop_token_ids' holds at most {} ids", request_limits::kMaxStopTokenIds));
  }
  std::vector<int32_t> out;
  for (const json& id : *v) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      throw bad_param("stop_token_ids", "'stop_token_ids' must be a list of non-negative token ids");
    }
    out.push_back(int32_t(id.get<int64_t>()));
  }
  return out;
}

// Fields strata does not implement answer 400 rather than being silently ignored.
void reject_unsupported(const json& body, Endpoint endpoint) {
  if (endpoint == Endpoint::Completions) {
    if (auto echo = bool_field(body, "echo"); echo && *echo) throw bad_param("echo", "'echo' is not supported");
    if (field(body, "suffix")) throw bad_param("suffix", "'suffix' is not supported");
  }
  // vLLM, too, refuses a request's own template unless told to trust it.
  if (endpoint == Endpoint::Chat && field(body, "chat_template")) {
    throw bad_param("chat_template", "'chat_template' is not supported: the model's own chat template is used");
  }
  if (const json* bias = field(body, "logit_bias"); bias && !bias->empty()) {
    throw bad_param("logit_bias", "'logit_bias' is not supported");
  }
  if (auto best_of = integer_field(body, "best_of"); best_of && *best_of > 1) {
    throw bad_param("best_of", "'best_of' is not supported");
  }
  if (const json* format = field(body, "response_format")) {
    if (!format->is_object() || format->value("type", json("text")) != "text") {
      throw bad_param("response_format", "only {\"type\": \"text\"} is supported for 'response_format'");
    }
  }
}

}  // namespace

ApiError::ApiError(int status, const std::string& message, std::string param, std::string code)
    : std::runtime_error(message), status_(status), type_(error_type(status)), param_(std::move(param)),
      code_(std::move(code)) {}

ApiError& ApiError::with(std::string key, int64_t value) {
  extra_.emplace_back(std::move(key), value);
  return *this;
}

std::string ApiError::body() const {
  json error = {{"message", what()},
                {"type", type_},
                {"param", param_.empty() ? json(nullptr) : json(param_)},
                {"code", code_.empty() ? json(nullptr) : json(code_)}};
  for (const auto& [key, value] : extra_) error[key] = value;
  return json_text(json{{"error", error}});
}

ApiError as_api_error(const std::exception& e) {
  if (const auto* api = dynamic_cast<const ApiError*>(&e)) return *api;
  if (dynamic_cast<const InvalidRequest*>(&e)) return ApiError(400, e.what());
  if (dynamic_cast<const Unavailable*>(&e)) return ApiError(503, e.what(), {}, "unavailable");
  return ApiError(500, e.what(), {}, "internal_error");
}

ApiError generation_error(const std::string& why) {
  return ApiError(500, "generation failed: " + why, {}, "generation_failed");
}

ApiError context_length_error(int32_t max_model_len, int32_t prompt_tokens, int32_t completion_tokens,
                              const std::string& prompt_param) {
  const char* what = prompt_param == "messages" ? "messages" : "prompt";
  ApiError error(400,
                 fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                             "({} in the {}, {} in the completion). Please reduce the length of the {} or completion.",
                             max_model_len, int64_t(prompt_tokens) + completion_tokens, prompt_tokens, what,
                             completion_tokens, what),
                 prompt_param, "context_length_exceeded");
  error.with("max_model_len", max_model_len).with("prompt_tokens", prompt_tokens).with("completion_tokens", completion_tokens);
  return error;
}

CompletionSettings parse_completion_settings(const json& body, Endpoint endpoint, const SamplingParams& defaults) {
  reject_unsupported(body, endpoint);
  CompletionSettings s;
  if (const json* model = field(body, "model")) {
    if (!model->is_string()) throw bad_param("model", "'model' must be a string");
    s.model = model->get<std::string>();
  }
  if (auto n = integer_field(body, "n")) s.n = int32_in("n", *n, 1, request_limits::kMaxChoices);
  if (auto stream = bool_field(body, "stream")) s.stream = *stream;
  if (const json* options = field(body, "stream_options")) {
    if (!options->is_object()) throw bad_param("stream_options", "'stream_options' must be an object");
    if (!s.stream) throw bad_param("stream_options", "'stream_options' can only be given when 'stream' is true");
    if (auto usage = bool_field(*options, "include_usage")) s.include_usage = *usage;
  }
  // Chat prefers max_completion_tokens, OpenAI's newer name.
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (auto v = integer_field(body, key)) {
      if (*v < 1) throw bad_param(key, fmt::format("'{}' must be at least 1 (got {})", key, *v));
      s.max_tokens = int32_t(std::min<int64_t>(*v, INT32_MAX));
    }
  }

  GenerationParams& p = s.params;
  p.sampling = defaults;
  if (auto t = number_field(body, "temperature")) {
    if (*t < 0 || !std::isfinite(*t)) throw bad_param("temperature", "'temperature' must be >= 0");
    p.sampling.temperature = float(*t);
  }
  if (auto top_p = number_field(body, "top_p")) {
    if (!(*top_p > 0 && *top_p <= 1)) throw bad_param("top_p", "'top_p' must be in (0, 1]");
    p.sampling.top_p = float(*top_p);
  }
  if (auto top_k = integer_field(body, "top_k")) {
    if (*top_k < -1) throw bad_param("top_k", "'top_k' must be -1 (disabled) or at least 0");
    p.sampling.top_k = *top_k < 0 ? 0 : *top_k;
  }
  if (auto min_p = number_field(body, "min_p")) {
    if (!(*min_p >= 0 && *min_p <= 1)) throw bad_param("min_p", "'min_p' must be in [0, 1]");
    p.sampling.min_p = float(*min_p);
  }
  for (auto [key, target] : {std::pair{"presence_penalty", &p.penalties.presence},
                             std::pair{"frequency_penalty", &p.penalties.frequency}}) {
    if (auto v = number_field(body, key)) {
      if (!(*v >= -2 && *v <= 2)) throw bad_param(key, fmt::format("'{}' must be in [-2, 2]", key));
      *target = float(*v);
    }
  }
  if (auto v = number_field(body, "repetition_penalty")) {
    if (!(*v > 0 && std::isfinite(*v))) throw bad_param("repetition_penalty", "'repetition_penalty' must be > 0");
    p.penalties.repetition = float(*v);
  }
  if (auto seed = integer_field(body, "seed")) p.seed = uint64_t(*seed);
  p.stop = stop_strings(body);
  p.stop_token_ids = stop_token_ids(body);
  if (auto v = bool_field(body, "ignore_eos")) p.ignore_eos = *v;
  if (auto v = bool_field(body, "skip_special_tokens")) p.skip_special_tokens = *v;
  if (auto v = bool_field(body, "include_stop_str_in_output")) p.include_stop_str_in_output = *v;
  if (auto v = integer_field(body, "min_tokens")) {
    p.min_tokens = int32_in("min_tokens", *v, 0, INT32_MAX);
    if (s.max_tokens && p.min_tokens > *s.max_tokens) {
      throw bad_param("min_tokens", "'min_tokens' must not exceed 'max_tokens'");
    }
  }

  if (endpoint == Endpoint::Chat) {
    const bool logprobs = bool_field(body, "logprobs").value_or(false);
    const auto top = integer_field(body, "top_logprobs");
    if (top && !logprobs) throw bad_param("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    if (logprobs) p.logprobs = top ? int32_in("top_logprobs", *top, 0, request_limits::kMaxLogprobs) : 0;
  } else if (auto top = integer_field(body, "logprobs")) {
    p.logprobs = int32_in("logprobs", *top, 0, request_limits::kMaxLogprobs);
  }
  return s;
}

int32_t resolve_max_tokens(const CompletionSettings& settings, int32_t prompt_tokens, int32_t max_model_len,
                           const std::string& prompt_param) {
  const int64_t requested = settings.max_tokens.value_or(0);
  if (prompt_tokens >= max_model_len || prompt_tokens + requested > max_model_len) {
    throw context_length_error(max_model_len, prompt_tokens, int32_t(requested), prompt_param);
  }
  return settings.max_tokens ? *settings.max_tokens : max_model_len - prompt_tokens;
}

std::string random_id(const std::string& prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}-{:016x}{:016x}", prefix, rng(), rng());
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void UsageTotals::add(const StreamEvent& final_event) {
  prompt_tokens += final_event.prompt_tokens;
  completion_tokens += final_event.completion_tokens;
  cached_tokens += final_event.cached_tokens;
}

json usage_json(const UsageTotals& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

namespace {

// Whether `text` is well-formed UTF-8 (no overlong forms or surrogates).
bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > text.size()) return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

// A token that is only part of a character is shown as "bytes:\xNN...", as vLLM does.
// Ids past the tokenizer's vocabulary (the embedding is padded, as Qwen3's
// is) have no text: they show as "".
std::string token_text(const Tokenizer& tokenizer, int32_t token) {
  if (token < 0 || token >= tokenizer.vocab_size()) return "";
  const std::string bytes = tokenizer.token_bytes(token);
  if (valid_utf8(bytes)) return tokenizer.decode({token});
  std::string out = "bytes:";
  for (unsigned char c : bytes) out += fmt::format("\\x{:02x}", c);
  return out;
}

namespace {

json bytes_of(const Tokenizer& tokenizer, int32_t token) {
  json out = json::array();
  if (token < 0 || token >= tokenizer.vocab_size()) return out;
  for (unsigned char c : tokenizer.token_bytes(token)) out.push_back(int(c));
  return out;
}

}  // namespace

void append_chat_logprobs(json& content, const Tokenizer& tokenizer, const std::vector<TokenLogprob>& logprobs) {
  for (const TokenLogprob& entry : logprobs) {
    json top = json::array();
    for (const auto& [id, logprob] : entry.top) {
      top.push_back({{"token", token_text(tokenizer, id)}, {"logprob", logprob}, {"bytes", bytes_of(tokenizer, id)}});
    }
    content.push_back({{"token", token_text(tokenizer, entry.token)},
                       {"logprob", entry.logprob},
                       {"bytes", bytes_of(tokenizer, entry.token)},
                       {"top_logprobs", std::move(top)}});
  }
}

json empty_completion_logprobs() {
  return {{"text_offset", json::array()},
          {"token_logprobs", json::array()},
          {"tokens", json::array()},
          {"top_logprobs", json::array()}};
}

void append_completion_logprobs(json& logprobs, const Tokenizer& tokenizer, const std::vector<TokenLogprob>& entries,
                                int64_t& text_offset) {
  for (const TokenLogprob& entry : entries) {
    const std::string text = token_text(tokenizer, entry.token);
    json top = json::object();
    top[text] = entry.logprob;
    for (const auto& [id, logprob] : entry.top) top[token_text(tokenizer, id)] = logprob;
    logprobs["text_offset"].push_back(text_offset);
    logprobs["token_logprobs"].push_back(entry.logprob);
    logprobs["tokens"].push_back(text);
    logprobs["top_logprobs"].push_back(std::move(top));
    text_offset += int64_t(text.size());
  }
}

std::string json_text(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

json parse_body(const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!parsed.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return parsed;
}

}  // namespace strata

namespace strata {

void check_model_name(const std::string& requested, const std::string& served) {
  if (!requested.empty() && requested != served) {
    throw ApiError(404, fmt::format("The model `{}` does not exist.", requested), "model", "model_not_found");
  }
}

}  // namespace strata
