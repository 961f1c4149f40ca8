// `strata bench serve`: a load generator for any OpenAI-compatible server.
// Sends a synthetic workload (bench/dataset.h) at Poisson or gamma arrivals
// and reports vLLM's serving metrics plus goodput under a per-token SLO.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fmt/core.h>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "bench/dataset.h"
#include "bench/openai_client.h"
#include "bench/prompt_maker.h"
#include "bench/serve_report.h"
#include "bench/serve_runner.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"

namespace strata {

namespace {

using namespace strata::bench;

struct BenchServeArgs {
  std::string base_url = "http://127.0.0.1:8000", endpoint = "/v1/completions", model, api_key;
  std::string dataset = "random", tokenizer, prompt_format = "ids";
  int num_prompts = 100, input_len = 1024, output_len = 128, turns = 4, max_model_len = 32768;
  double range_ratio = 0, scale_lengths = 1;
  std::string request_rate = "inf";
  double burstiness = 1;
  int max_concurrency = 0, num_warmups = 0;
  uint64_t seed = 0;
  std::string slo, output_json;
  bool progress = false;
};

// A bad flag value: reported like CLI11's own parse errors, with exit code 2.
struct BadFlag : CLI::ParseError {
  explicit BadFlag(const std::string& message) : CLI::ParseError("BadFlag", message, 2) {}
};

double parse_rate(const std::string& s) {
  if (s == "inf") return INFINITY;
  char* end = nullptr;
  const double rate = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(rate > 0) || std::isinf(rate))
    fail("--request-rate: '{}' is not a positive number or inf", s);
  return rate;
}

// Everything the run needs, checked before any request is sent.
struct BenchPlan {
  ClientOptions client;
  DatasetOptions dataset;
  RunOptions run;
  std::optional<Slo> slo;
};

BenchPlan plan_from(const BenchServeArgs& a) {
  BenchPlan p;
  p.client.base_url = a.base_url;
  p.client.endpoint = parse_endpoint(a.endpoint);
  p.client.model = a.model;
  p.client.api_key = a.api_key;
  if (a.prompt_format != "ids" && a.prompt_format != "text")
    fail("--prompt-format: '{}' (use ids or text)", a.prompt_format);
  p.client.send_token_ids = a.prompt_format == "ids";
  const OpenAIClient url_check(p.client);  // the constructor rejects a malformed --base-url
  p.dataset.kind = parse_dataset_kind(a.dataset);
  p.dataset.num_prompts = a.num_prompts;
  p.dataset.input_len = a.input_len;
  p.dataset.output_len = a.output_len;
  p.dataset.range_ratio = a.range_ratio;
  p.dataset.turns = a.turns;
  p.dataset.scale_lengths = a.scale_lengths;
  p.dataset.max_model_len = a.max_model_len;
  p.dataset.seed = a.seed;
  sample_lengths(p.dataset);  // validates the dataset options
  p.run.request_rate = parse_rate(a.request_rate);
  p.run.burstiness = a.burstiness;
  if (!(a.burstiness > 0) || std::isinf(a.burstiness))
    fail("--burstiness must be a positive number, got {}", a.burstiness);
  p.run.max_concurrency = a.max_concurrency;
  if (a.max_concurrency < 0) fail("--max-concurrency must be >= 0, got {}", a.max_concurrency);
  p.run.num_warmups = a.num_warmups;
  if (a.num_warmups < 0) fail("--num-warmups must be >= 0, got {}", a.num_warmups);
  p.run.seed = a.seed;
  if (!a.slo.empty()) p.slo = parse_slo(a.slo);
  return p;
}

// "\r"-redrawn status line on stderr, at most a few times a second.
ProgressCallback progress_printer(bool enabled) {
  if (!enabled) return nullptr;
  return [](int completed, int failed, int total, double elapsed) {
    const int done = completed + failed;
    fmt::print(stderr, "\r[bench] {}/{} requests done{} | {:.1f} s elapsed", done, total,
               failed ? fmt::format(" ({} failed)", failed) : "", elapsed);
    if (done == total) fmt::print(stderr, "\n");
    std::fflush(stderr);
  };
}

void run_bench_serve(const BenchServeArgs& a) {
  BenchPlan plan;
  try {
    plan = plan_from(a);
  } catch (const Error& e) {
    throw BadFlag(e.what());
  }
  const OpenAIClient probe(plan.client);
  if (plan.client.model.empty()) {
    plan.client.model = probe.first_model();
  } else {
    probe.check_reachable();
  }
  const OpenAIClient client(plan.client);

  std::unique_ptr<Tokenizer> tokenizer;
  if (!a.tokenizer.empty()) tokenizer = Tokenizer::from_hf(a.tokenizer, "");
  const PromptMaker maker(tokenizer.get());
  const std::vector<BenchRequest> requests = make_requests(plan.dataset, maker);

  fmt::print("Model: {}  endpoint: {}{}  dataset: {} ({} requests)\n", plan.client.model, a.base_url,
             a.endpoint, a.dataset, requests.size());
  fmt::print("{}", format_length_stats(requests));
  fmt::print("Request rate: {}  burstiness: {}  max concurrency: {}\n", a.request_rate, a.burstiness,
             a.max_concurrency > 0 ? std::to_string(a.max_concurrency) : "unlimited");
  std::fflush(stdout);

  const RunResult run =
      run_benchmark(client, requests, plan.run, progress_printer(a.progress || isatty(STDERR_FILENO)));
  const BenchMetrics metrics = compute_metrics(run.results, run.duration, plan.slo);
  fmt::print("{}", format_report(metrics));

  if (!a.output_json.empty()) {
    nlohmann::json j = report_json(metrics, run.results);
    j["config"] = {{"base_url", a.base_url},          {"endpoint", a.endpoint},
                   {"model", plan.client.model},      {"dataset", a.dataset},
                   {"scale_lengths", a.scale_lengths},
                   {"num_prompts", a.num_prompts},    {"request_rate", a.request_rate},
                   {"burstiness", a.burstiness},      {"max_concurrency", a.max_concurrency},
                   {"num_warmups", a.num_warmups},    {"seed", a.seed},
                   {"prompt_format", a.prompt_format}, {"slo", a.slo}};
    std::ofstream out(a.output_json);
    if (!out) fail("--output-json: cannot write '{}'", a.output_json);
    out << j.dump(2) << "\n";
    if (!out) fail("--output-json: failed writing '{}'", a.output_json);
  }
  if (metrics.completed == 0) fail("every request failed; first error: {}", metrics.first_error);
}

void add_bench_serve_command(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("serve", "Load-test an OpenAI-compatible server (vLLM bench serve metrics)");
  auto a = std::make_shared<BenchServeArgs>();
  cmd->add_option("--base-url", a->base_url, "Server URL")->capture_default_str();
  cmd->add_option("--endpoint", a->endpoint, "/v1/completions or /v1/chat/completions")->capture_default_str();
  cmd->add_option("--model", a->model, "Model name (default: the first of GET /v1/models)");
  cmd->add_option("--api-key", a->api_key, "Sent as a Bearer token");
  cmd->add_option("--dataset", a->dataset, "random, sharegpt, arxiv or prefix")->capture_default_str();
  cmd->add_option("--num-prompts", a->num_prompts, "Requests to send")->capture_default_str();
  cmd->add_option("--input-len", a->input_len, "Prompt tokens (random; first turn of prefix)")->capture_default_str();
  cmd->add_option("--output-len", a->output_len, "Output tokens (random, prefix)")->capture_default_str();
  cmd->add_option("--range-ratio", a->range_ratio, "Lengths drawn from len*(1 +- r) (random, prefix)")
      ->capture_default_str();
  cmd->add_option("--turns", a->turns, "Turns per conversation (prefix)")->capture_default_str();
  cmd->add_option("--scale-lengths", a->scale_lengths, "Multiply the dataset's prompt and output lengths")
      ->capture_default_str();
  cmd->add_option("--max-model-len", a->max_model_len, "Clip prompt + output to this context")
      ->capture_default_str();
  cmd->add_option("--tokenizer", a->tokenizer,
                  "The model's tokenizer.json, so id prompts are real text (default: ids from [1000, 30000))");
  cmd->add_option("--prompt-format", a->prompt_format, "ids or text (/v1/completions; chat always sends text)")
      ->capture_default_str();
  cmd->add_option("--request-rate", a->request_rate, "Requests/s, or inf to send all at once")
      ->capture_default_str();
  cmd->add_option("--burstiness", a->burstiness, "Gamma shape of the arrivals (1 = Poisson)")->capture_default_str();
  cmd->add_option("--max-concurrency", a->max_concurrency, "Requests in flight at most (0 = unlimited)")
      ->capture_default_str();
  cmd->add_option("--num-warmups", a->num_warmups, "Untimed requests sent first, one at a time")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed for lengths, prompts and arrivals")->capture_default_str();
  cmd->add_option("--slo", a->slo, "ttft:MS,tbt:MS - goodput counts requests with TTFT and every gap within");
  cmd->add_option("--output-json", a->output_json, "Write all metrics and per-request records here");
  cmd->add_flag("--progress", a->progress, "Show the progress line even when stderr is not a terminal");
  cmd->callback([a] { run_bench_serve(*a); });
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  add_bench_serve_command(*bench);
  add_bench_engine_command(*bench);
  add_bench_agentic_command(*bench);
  add_bench_context_command(*bench);
}

}  // namespace strata
