#include "server/metrics.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/step_stats.h"

namespace strata {
namespace {

// vLLM's bucket bounds, so percentiles read the same on both servers.
const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,   0.75,
                                          1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
const std::vector<double> kItlBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                                         0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
const std::vector<double> kE2eBuckets = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,    10.0,   15.0,  20.0,
                                         30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

// 1, 2, 5, 10, 20, 50 ... up to `max`, like vLLM's token-count histograms.
std::vector<double> one_two_five_buckets(double max) {
  std::vector<double> out;
  for (double scale = 1; ; scale *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m * scale > max) return out;
      out.push_back(m * scale);
    }
  }
}

// Prometheus label values escape backslash, quote and newline.
std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) { return fmt::format("{}", v); }

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const size_t bucket = size_t(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[bucket]++;
  sum_ += value;
  count_++;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, number(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, count_);
  out += fmt::format("{}_sum{{{}}} {}\n", name, labels, number(sum_));
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, count_);
}

ServerMetrics::ServerMetrics(std::string model_name)
    : labels_(fmt::format("model_name=\"{}\"", escape_label(model_name))),
      ttft_(kTtftBuckets),
      itl_(kItlBuckets),
      e2e_(kE2eBuckets),
      request_prompt_tokens_(one_two_five_buckets(1e7)),
      request_generation_tokens_(one_two_five_buckets(1e7)) {}

void ServerMetrics::observe_time_to_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  ttft_.observe(seconds);
}

void ServerMetrics::observe_inter_token_latency(double seconds) {
  std::lock_guard lock(mutex_);
  itl_.observe(seconds);
}

void ServerMetrics::observe_request(double e2e_seconds, int32_t prompt_tokens, int32_t generation_tokens) {
  std::lock_guard lock(mutex_);
  e2e_.observe(e2e_seconds);
  request_prompt_tokens_.observe(prompt_tokens);
  request_generation_tokens_.observe(generation_tokens);
}

std::string ServerMetrics::render(const EngineCounters& engine) const {
  std::string out;
  auto gauge = [&](const char* name, const char* help, double value) {
    header(out, name, "gauge", help);
    out += fmt::format("{}{{{}}} {}\n", name, labels_, number(value));
  };
  // prometheus_client names a counter's sample <name>_total.
  auto counter = [&](const char* name, const char* help, int64_t value) {
    header(out, name, "counter", help);
    out += fmt::format("{}_total{{{}}} {}\n", name, labels_, value);
  };
  gauge("vllm:num_requests_running", "Number of requests in model execution batches.", double(engine.num_running));
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", double(engine.num_waiting));
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", engine.kv_usage);
  counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
          engine.prefix_cache_queries);
  counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
          engine.prefix_cache_hits);
  counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.", engine.preemptions);
  counter("vllm:prompt_tokens", "Number of prefill tokens processed.", engine.prompt_tokens);
  counter("vllm:generation_tokens", "Number of generation tokens processed.", engine.generation_tokens);

  header(out, "vllm:request_success", "counter", "Count of successfully processed requests.");
  for (size_t reason = 0; reason < engine.finished_by_reason.size(); ++reason) {
    out += fmt::format("vllm:request_success_total{{{},finished_reason=\"{}\"}} {}\n", labels_,
                       to_string(FinishReason(reason)), engine.finished_by_reason[reason]);
  }

  // As vLLM, only when speculative decoding is on (one position per proposed token).
  if (!engine.spec_accepted_per_pos.empty()) {
    counter("vllm:spec_decode_num_drafts", "Number of spec decoding drafts.", engine.spec_num_drafts);
    counter("vllm:spec_decode_num_draft_tokens", "Number of draft tokens.", engine.spec_num_draft_tokens);
    counter("vllm:spec_decode_num_accepted_tokens", "Number of accepted tokens.", engine.spec_num_accepted_tokens);
    header(out, "vllm:spec_decode_num_accepted_tokens_per_pos", "counter", "Accepted tokens per draft position.");
    for (size_t pos = 0; pos < engine.spec_accepted_per_pos.size(); ++pos) {
      out += fmt::format("vllm:spec_decode_num_accepted_tokens_per_pos_total{{{},position=\"{}\"}} {}\n", labels_, pos,
                         engine.spec_accepted_per_pos[pos]);
    }
  }

  std::lock_guard lock(mutex_);
  auto histogram = [&](const char* name, const char* help, const Histogram& h) {
    header(out, name, "histogram", help);
    h.render(out, name, labels_);
  };
  histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", ttft_);
  histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", itl_);
  histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", e2e_);
  histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", request_prompt_tokens_);
  histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", request_generation_tokens_);
  return out;
}

}  // namespace strata
