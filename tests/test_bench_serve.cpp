// `strata bench serve` against a scripted in-process OpenAI server: token
// counting, TTFT/ITL timing, failed requests (HTTP 500, a dropped
// connection), what each request asks for, and the command's JSON output
// and errors.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/openai_client.h"
#include "bench/serve_report.h"
#include "bench/serve_runner.h"
#include "core/error.h"

using namespace strata::bench;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

enum class Script { Normal, NoUsage, Http500, DropMidStream };

// Streams max_tokens one-token chunks: the first after kFirstTokenMs, the
// rest kGapMs apart, then usage and [DONE] (as the script says).
class FakeOpenAIServer {
 public:
  static constexpr int kFirstTokenMs = 120, kGapMs = 15;

  FakeOpenAIServer() {
    server_.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"fake-model","object":"model"}]})", "application/json");
    });
    auto handle = [this](const httplib::Request& req, httplib::Response& res) { complete(req, res); };
    server_.Post("/v1/completions", handle);
    server_.Post("/v1/chat/completions", handle);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeOpenAIServer() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::atomic<Script> script{Script::Normal};

  std::vector<json> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }

 private:
  void complete(const httplib::Request& req, httplib::Response& res) {
    const json body = json::parse(req.body);
    {
      std::lock_guard lock(mutex_);
      bodies_.push_back(body);
    }
    const Script s = script.load();
    if (s == Script::Http500) {
      res.status = 500;
      res.set_content(R"({"error":{"message":"scripted failure"}})", "application/json");
      return;
    }
    const bool chat = req.path == "/v1/chat/completions";
    const int tokens = body.at("max_tokens").get<int>();
    const int prompt_tokens = body.contains("prompt") && body["prompt"].is_array() ? int(body["prompt"].size()) : 7;
    res.set_chunked_content_provider("text/event-stream", [=](size_t, httplib::DataSink& sink) {
      auto send = [&](const json& event) {
        const std::string line = "data: " + event.dump() + "\n\n";
        return sink.write(line.data(), line.size());
      };
      if (chat) send({{"choices", {{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}}}}});
      for (int i = 0; i < tokens; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(i == 0 ? kFirstTokenMs : kGapMs));
        if (s == Script::DropMidStream && i == 2) return false;  // closes the connection
        const json choice = chat ? json{{"index", 0}, {"delta", {{"content", " tok"}}}}
                                 : json{{"index", 0}, {"text", " tok"}};
        send({{"choices", {choice}}});
      }
      if (s != Script::NoUsage)
        send({{"choices", json::array()},
              {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", tokens}}}});
      const std::string done = "data: [DONE]\n\n";
      sink.write(done.data(), done.size());
      sink.done();
      return true;
    });
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<json> bodies_;
};

std::vector<BenchRequest> requests(int count, int prompt_len, int output_len) {
  std::vector<BenchRequest> out(static_cast<size_t>(count));
  for (BenchRequest& r : out) {
    for (int i = 0; i < prompt_len; ++i) r.prompt_ids.push_back(1000 + i);
    r.prompt_text = "hello world";
    r.prompt_len = prompt_len;
    r.output_len = output_len;
  }
  return out;
}

ClientOptions client_options(const FakeOpenAIServer& server, Endpoint endpoint = Endpoint::Completions) {
  ClientOptions o;
  o.base_url = server.url();
  o.endpoint = endpoint;
  o.model = "fake-model";
  return o;
}

RunOptions all_at_once() {
  RunOptions o;
  o.request_rate = INFINITY;
  return o;
}

constexpr double kFirstToken = FakeOpenAIServer::kFirstTokenMs / 1000.0;
constexpr double kGap = FakeOpenAIServer::kGapMs / 1000.0;

// Runs a command line, returning its exit code and combined output.
std::pair<int, std::string> run_command(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST(BenchServe, CountsTokensAndTimesThem) {
  FakeOpenAIServer server;
  const OpenAIClient client(client_options(server));
  EXPECT_EQ(client.first_model(), "fake-model");
  const RunResult run = run_benchmark(client, requests(4, 16, 6), all_at_once(), nullptr);
  ASSERT_EQ(run.results.size(), 4u);
  for (const RequestResult& r : run.results) {
    ASSERT_TRUE(r.success) << r.error;
    EXPECT_EQ(r.output_len, 6);
    EXPECT_EQ(r.prompt_len, 16);
    ASSERT_EQ(r.itls.size(), 5u);
    EXPECT_GE(r.ttft, kFirstToken * 0.95);
    EXPECT_LT(r.ttft, kFirstToken + 1.0);
    // No bound on a single gap: the client stamps every event of one read
    // with one time, so a reader descheduled under parallel ctest sees two
    // chunks arrive together (a gap of ~0). Their sum is bounded from below
    // by the server's sleeps alone, whatever the load.
    double gaps = 0;
    for (double gap : r.itls) gaps += gap;
    EXPECT_LE(gaps, r.e2el - r.ttft + 1e-9);
    EXPECT_GE(r.e2el, (kFirstToken + 5 * kGap) * 0.95);
  }
  // SLO limits far above the script, so only a gross timing error misses them.
  const BenchMetrics m = compute_metrics(run.results, run.duration, Slo{5.0, 5.0});
  EXPECT_EQ(m.completed, 4);
  EXPECT_EQ(m.total_output_tokens, 24);
  EXPECT_EQ(m.slo_met, 4);
  EXPECT_NEAR(m.tpot.mean, kGap, 0.02);  // a mean over 20 gaps
  // A TBT limit below the scripted gap fails every request: of its 5 gaps,
  // summing to at least 5 x 15 ms, one is longer than 7.5 ms.
  EXPECT_EQ(compute_metrics(run.results, run.duration, Slo{1.0, kGap / 2}).slo_met, 0);
}

TEST(BenchServe, AsksForExactlyTheOutputLengthAsAStream) {
  FakeOpenAIServer server;
  const OpenAIClient client(client_options(server));
  run_benchmark(client, requests(1, 5, 3), all_at_once(), nullptr);
  ClientOptions chat = client_options(server, Endpoint::ChatCompletions);
  const RunResult chat_run = run_benchmark(OpenAIClient(chat), requests(1, 5, 3), all_at_once(), nullptr);
  ASSERT_TRUE(chat_run.results[0].success) << chat_run.results[0].error;
  EXPECT_EQ(chat_run.results[0].itls.size(), 2u);  // the role-only chunk is not a token

  const std::vector<json> bodies = server.bodies();
  ASSERT_EQ(bodies.size(), 2u);
  for (const json& body : bodies) {
    EXPECT_EQ(body["model"], "fake-model");
    EXPECT_EQ(body["max_tokens"], 3);
    EXPECT_EQ(body["ignore_eos"], true);
    EXPECT_EQ(body["stream"], true);
    EXPECT_EQ(body["stream_options"]["include_usage"], true);
  }
  EXPECT_EQ(bodies[0]["prompt"], json({1000, 1001, 1002, 1003, 1004}));
  EXPECT_EQ(bodies[1]["messages"][0]["content"], "hello world");
}

TEST(BenchServe, CountsChunksWithoutUsage) {
  FakeOpenAIServer server;
  server.script = Script::NoUsage;
  const RunResult run = run_benchmark(OpenAIClient(client_options(server)), requests(2, 4, 5), all_at_once(), nullptr);
  for (const RequestResult& r : run.results) {
    ASSERT_TRUE(r.success) << r.error;
    EXPECT_EQ(r.output_len, 5);
    EXPECT_EQ(r.prompt_len, 4);  // what the request was built with
  }
}

TEST(BenchServe, ReportsFailedRequests) {
  FakeOpenAIServer server;
  server.script = Script::Http500;
  const OpenAIClient client(client_options(server));
  RunResult run = run_benchmark(client, requests(3, 4, 4), all_at_once(), nullptr);
  BenchMetrics m = compute_metrics(run.results, run.duration, std::nullopt);
  EXPECT_EQ(m.failed, 3);
  EXPECT_EQ(m.completed, 0);
  EXPECT_NE(m.first_error.find("HTTP 500"), std::string::npos) << m.first_error;
  EXPECT_NE(m.first_error.find("scripted failure"), std::string::npos) << m.first_error;

  server.script = Script::DropMidStream;
  run = run_benchmark(client, requests(2, 4, 6), all_at_once(), nullptr);
  m = compute_metrics(run.results, run.duration, std::nullopt);
  EXPECT_EQ(m.failed, 2);
  EXPECT_FALSE(m.first_error.empty());
  for (const RequestResult& r : run.results) EXPECT_TRUE(r.itls.empty());

  // Warm-ups that all fail stop the run before it starts.
  server.script = Script::Http500;
  RunOptions warm = all_at_once();
  warm.num_warmups = 2;
  EXPECT_THROW(run_benchmark(client, requests(2, 4, 4), warm, nullptr), strata::Error);
}

TEST(BenchServe, MaxConcurrencyOneSendsOneAtATime) {
  FakeOpenAIServer server;
  RunOptions serial = all_at_once();
  serial.max_concurrency = 1;
  const RunResult run = run_benchmark(OpenAIClient(client_options(server)), requests(3, 4, 2), serial, nullptr);
  for (size_t i = 1; i < run.results.size(); ++i)
    EXPECT_GE(run.results[i].start, run.results[i - 1].start + run.results[i - 1].e2el - 1e-3);
  EXPECT_GE(run.duration, 3 * (kFirstToken + kGap) * 0.95);
}

TEST(BenchServe, UnreachableServerIsAClearError) {
  ClientOptions o;
  o.base_url = "http://127.0.0.1:1";  // nothing listens on port 1
  try {
    OpenAIClient(o).first_model();
    FAIL() << "expected an error";
  } catch (const strata::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot reach the server at http://127.0.0.1:1"), std::string::npos)
        << e.what();
  }
  o.base_url = "127.0.0.1:8000";
  EXPECT_THROW(OpenAIClient{o}, strata::Error);
}

TEST(BenchServe, JsonReportHoldsMetricsAndRequests) {
  FakeOpenAIServer server;
  const RunResult run = run_benchmark(OpenAIClient(client_options(server)), requests(2, 8, 3), all_at_once(), nullptr);
  const json j = report_json(compute_metrics(run.results, run.duration, Slo{2.0, 0.5}), run.results);
  for (const char* key : {"completed", "failed", "duration_s", "total_input_tokens", "total_output_tokens",
                          "request_throughput", "output_throughput", "total_token_throughput", "goodput",
                          "slo_attainment_pct"})
    EXPECT_TRUE(j.contains(key)) << key;
  for (const char* key : {"ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"})
    for (const char* stat : {"mean", "median", "std", "p90", "p99"}) EXPECT_TRUE(j[key].contains(stat)) << key << stat;
  ASSERT_EQ(j["requests"].size(), 2u);
  const json& r = j["requests"][0];
  EXPECT_EQ(r["output_len"], 3);
  EXPECT_EQ(r["prompt_len"], 8);
  EXPECT_EQ(r["itls_ms"].size(), 2u);
  EXPECT_GE(r["ttft_ms"].get<double>(), FakeOpenAIServer::kFirstTokenMs * 0.95);
  EXPECT_DOUBLE_EQ(j["slo_attainment_pct"].get<double>(), 100.0);
}

TEST(BenchServeCli, WritesJsonAndRejectsBadFlags) {
  FakeOpenAIServer server;
  const fs::path out = fs::temp_directory_path() / ("bench_serve_" + std::to_string(getpid()) + ".json");
  const std::string strata = STRATA_BINARY;
  auto [code, text] = run_command(strata + " bench serve --base-url " + server.url() +
                                  " --dataset prefix --num-prompts 4 --turns 2 --input-len 16 --output-len 3"
                                  " --request-rate 50 --num-warmups 1 --slo ttft:2000,tbt:500 --seed 3"
                                  " --output-json " + out.string());
  ASSERT_EQ(code, 0) << text;
  EXPECT_NE(text.find("Serving Benchmark Result"), std::string::npos) << text;
  std::ifstream in(out);
  const json j = json::parse(in);
  fs::remove(out);
  EXPECT_EQ(j["completed"], 4);
  EXPECT_EQ(j["total_output_tokens"], 12);
  EXPECT_EQ(j["config"]["model"], "fake-model");  // from GET /v1/models
  EXPECT_EQ(j["requests"].size(), 4u);
  EXPECT_EQ(server.bodies().size(), 5u);  // the warm-up is sent but not counted
  // Turn 2 of a conversation starts with turn 1's prompt.
  const json first = j["requests"][0], second = j["requests"][2];
  EXPECT_EQ(second["prompt_len"].get<int>(), first["prompt_len"].get<int>() + 3 + 2);

  for (const char* bad : {"--dataset squad", "--request-rate 0", "--slo ttft:x", "--endpoint /v1/embeddings",
                          "--range-ratio 2", "--prompt-format bytes"}) {
    auto [bad_code, bad_text] = run_command(strata + " bench serve --base-url " + server.url() + " " + bad);
    EXPECT_EQ(bad_code, 2) << bad << ": " << bad_text;
    EXPECT_NE(bad_text.find(std::string(bad).substr(0, std::string(bad).find(' '))), std::string::npos) << bad_text;
  }
  auto [down_code, down_text] = run_command(strata + " bench serve --base-url http://127.0.0.1:1 --num-prompts 1");
  EXPECT_EQ(down_code, 1);
  EXPECT_NE(down_text.find("cannot reach the server"), std::string::npos) << down_text;
}
