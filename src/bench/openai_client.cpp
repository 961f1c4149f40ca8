#include "bench/openai_client.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "bench/sse_parser.h"
#include "core/ctype_cache.h"
#include "core/error.h"

namespace strata::bench {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string endpoint_path(Endpoint e) {
  return e == Endpoint::Completions ? "/v1/completions" : "/v1/chat/completions";
}

// The text a stream chunk carries, for either endpoint ("" for chunks that
// only carry a role, a finish reason or usage).
std::string chunk_text(const json& choice) {
  std::string text;
  auto append = [&](const json& obj, const char* key) {
    if (obj.is_object() && obj.contains(key) && obj[key].is_string()) text += obj[key].get<std::string>();
  };
  append(choice, "text");
  if (choice.contains("delta")) {
    append(choice["delta"], "content");
    append(choice["delta"], "reasoning_content");
  }
  return text;
}

std::string shorten(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  constexpr size_t kMax = 200;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

}  // namespace

Endpoint parse_endpoint(const std::string& path) {
  if (path == "/v1/completions") return Endpoint::Completions;
  if (path == "/v1/chat/completions") return Endpoint::ChatCompletions;
  fail("--endpoint: '{}' is not supported (use /v1/completions or /v1/chat/completions)", path);
}

OpenAIClient::OpenAIClient(ClientOptions options) : options_(std::move(options)) {
  prime_ctype_narrow_cache();  // before the workers send from their threads
  const std::string& url = options_.base_url;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || (url.substr(0, scheme_end) != "http" && url.substr(0, scheme_end) != "https"))
    fail("--base-url: '{}' is not an http:// or https:// URL", url);
  const size_t path_start = url.find('/', scheme_end + 3);
  origin_ = url.substr(0, path_start);
  if (origin_.size() == scheme_end + 3) fail("--base-url: '{}' has no host", url);
  if (path_start != std::string::npos) path_prefix_ = url.substr(path_start);
  while (!path_prefix_.empty() && path_prefix_.back() == '/') path_prefix_.pop_back();
  if (!httplib::Client(origin_).is_valid()) fail("--base-url: cannot use '{}'", url);
}

httplib::Result OpenAIClient::get_models() const {
  httplib::Client client(origin_);
  client.set_connection_timeout(10);
  client.set_read_timeout(30);
  httplib::Headers headers;
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  auto res = client.Get(path_prefix_ + "/v1/models", headers);
  if (!res)
    fail("cannot reach the server at {}{}/v1/models: {} error", origin_, path_prefix_,
         httplib::to_string(res.error()));
  return res;
}

void OpenAIClient::check_reachable() const { get_models(); }

std::string OpenAIClient::first_model() const {
  const std::string url = origin_ + path_prefix_ + "/v1/models";
  const httplib::Result res = get_models();
  if (res->status != 200) fail("GET {}: HTTP {}: {}", url, res->status, shorten(res->body));
  const json body = json::parse(res->body, nullptr, false);
  if (!body.is_object() || !body.contains("data") || !body["data"].is_array() || body["data"].empty() ||
      !body["data"][0].contains("id") || !body["data"][0]["id"].is_string())
    fail("GET {}: the reply lists no model (expected {{\"data\": [{{\"id\": ...}}]}}); pass --model", url);
  return body["data"][0]["id"].get<std::string>();
}

std::string OpenAIClient::body_for(const BenchRequest& request) const {
  json body = {
      {"model", options_.model},
      {"max_tokens", request.output_len},
      {"ignore_eos", true},
      {"temperature", 0.0},
      {"stream", true},
      {"stream_options", {{"include_usage", true}}},
  };
  if (options_.endpoint == Endpoint::ChatCompletions) {
    body["messages"] = json::array({{{"role", "user"}, {"content", request.prompt_text}}});
  } else if (options_.send_token_ids) {
    body["prompt"] = request.prompt_ids;
  } else {
    body["prompt"] = request.prompt_text;
  }
  return body.dump();
}

RequestResult OpenAIClient::send(const BenchRequest& request, Clock::time_point epoch) const {
  RequestResult result;
  result.prompt_len = request.prompt_len;

  httplib::Client client(origin_);
  client.set_connection_timeout(10);
  client.set_read_timeout(options_.read_timeout_s);
  client.set_write_timeout(60);

  httplib::Request req;
  req.method = "POST";
  req.path = path_prefix_ + endpoint_path(options_.endpoint);
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "text/event-stream");
  if (!options_.api_key.empty()) req.set_header("Authorization", "Bearer " + options_.api_key);
  req.body = body_for(request);

  int status = 0;
  std::string error_body;  // the body of a non-200 reply, for the message
  SseParser parser;
  int token_chunks = 0;
  int usage_tokens = -1;
  Clock::time_point sent, last_token;
  std::string stream_error;

  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  // Returns false to abort the transfer when the stream reports an error.
  auto on_event = [&](const std::string& data, Clock::time_point now) {
    if (data == "[DONE]") return true;
    const json event = json::parse(data, nullptr, false);
    if (!event.is_object()) {
      stream_error = "malformed stream event: " + shorten(data);
      return false;
    }
    if (event.contains("error")) {
      const json& e = event["error"];
      stream_error = "server error in stream: " +
                     shorten(e.is_object() && e.contains("message") ? e["message"].dump() : e.dump());
      return false;
    }
    if (event.contains("choices") && event["choices"].is_array() && !event["choices"].empty() &&
        !chunk_text(event["choices"][0]).empty()) {
      if (token_chunks++ == 0) {
        result.ttft = seconds_between(sent, now);
      } else {
        result.itls.push_back(seconds_between(last_token, now));
      }
      last_token = now;
    }
    if (event.contains("usage") && event["usage"].is_object()) {
      const json& usage = event["usage"];
      if (usage.contains("completion_tokens") && usage["completion_tokens"].is_number_integer())
        usage_tokens = usage["completion_tokens"].get<int>();
      if (usage.contains("prompt_tokens") && usage["prompt_tokens"].is_number_integer())
        result.prompt_len = usage["prompt_tokens"].get<int>();
    }
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    const Clock::time_point now = Clock::now();
    if (status != 200) {
      error_body.append(data, std::min<size_t>(size, 4096 - std::min<size_t>(error_body.size(), 4096)));
      return true;
    }
    for (const std::string& event : parser.feed(std::string_view(data, size)))
      if (!on_event(event, now)) return false;
    return true;
  };

  sent = Clock::now();
  result.start = seconds_between(epoch, sent);
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const bool ok = client.send(req, res, error);
  result.e2el = seconds_between(sent, Clock::now());

  if (!stream_error.empty()) {
    result.error = stream_error;
  } else if (!ok || error != httplib::Error::Success) {
    result.error = fmt::format("{} {}: {} error", req.method, origin_ + req.path, httplib::to_string(error));
  } else if (status != 200) {
    result.error = fmt::format("HTTP {}: {}", status, shorten(error_body));
  } else if (token_chunks == 0) {
    result.error = "the stream held no tokens";
  } else {
    result.success = true;
    result.output_len = usage_tokens >= 0 ? usage_tokens : token_chunks;
  }
  if (!result.success) {
    result.ttft = 0;
    result.itls.clear();
  }
  return result;
}

OpenAIClient::Reply OpenAIClient::post(const std::string& path, const std::string& json_body) const {
  httplib::Client client(origin_);
  client.set_connection_timeout(10);
  client.set_read_timeout(options_.read_timeout_s);
  client.set_write_timeout(60);
  httplib::Headers headers;
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  const Clock::time_point sent = Clock::now();
  auto res = client.Post(path_prefix_ + path, headers, json_body, "application/json");
  if (!res) fail("POST {}{}{}: {} error", origin_, path_prefix_, path, httplib::to_string(res.error()));
  return {res->status, res->body, seconds_between(sent, Clock::now())};
}

}  // namespace strata::bench
