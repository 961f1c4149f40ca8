#pragma once
// Streams one benchmark request to an OpenAI-compatible server
// (/v1/completions or /v1/chat/completions) and times every token chunk.
// Requests ask for exactly output_len tokens: max_tokens with ignore_eos
// (the vLLM benchmarking convention), greedy, streamed with usage.
#include <chrono>
#include <string>

namespace httplib {
class Result;
}

#include "bench/bench_request.h"
#include "bench/metrics.h"

namespace strata::bench {

enum class Endpoint { Completions, ChatCompletions };
Endpoint parse_endpoint(const std::string& path);  // "/v1/completions" or "/v1/chat/completions"

struct ClientOptions {
  std::string base_url = "http://127.0.0.1:8000";  // scheme://host[:port][/path prefix]
  Endpoint endpoint = Endpoint::Completions;
  std::string model;
  std::string api_key;          // sent as a Bearer token when set
  bool send_token_ids = true;   // /v1/completions: `prompt` as ids, not text
  int read_timeout_s = 600;     // longest silence tolerated inside a response
};

class OpenAIClient {
 public:
  explicit OpenAIClient(ClientOptions options);

  // The first model GET /v1/models lists. Throws strata::Error when the
  // server cannot be reached or lists none.
  std::string first_model() const;
  // Throws strata::Error when GET /v1/models gets no HTTP reply at all.
  void check_reachable() const;

  // Sends the request and waits for the whole stream. Never throws: failures
  // come back as a result with success == false and the reason. Times are
  // measured from `epoch` (the benchmark's start).
  RequestResult send(const BenchRequest& request, std::chrono::steady_clock::time_point epoch) const;

  struct Reply {
    int status = 0;
    std::string body;
    double seconds = 0;  // from sending the request to the end of the reply
  };
  // POSTs a JSON body to `path` under the base URL (e.g. "/tokenize") and
  // waits for the whole reply. Throws strata::Error when no HTTP reply comes.
  Reply post(const std::string& path, const std::string& json_body) const;

  const ClientOptions& options() const { return options_; }

 private:
  httplib::Result get_models() const;  // throws when the server cannot be reached
  std::string body_for(const BenchRequest& request) const;

  ClientOptions options_;
  std::string origin_;       // scheme://host[:port]
  std::string path_prefix_;  // any path in the base URL, without a trailing '/'
};

}  // namespace strata::bench
