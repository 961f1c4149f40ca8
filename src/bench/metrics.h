#pragma once
// Serving-benchmark metrics, defined as vLLM's `bench serve` defines them, plus
// goodput under the layered-prefill paper's per-token SLO rule.
//   TTFT  send -> first token chunk
//   ITL   every gap between consecutive token chunks, pooled over requests
//   TPOT  (E2EL - TTFT) / (output tokens - 1), for requests with > 1 token
//   E2EL  send -> last byte of the response
#include <optional>
#include <string>
#include <vector>

namespace strata::bench {

// What one request measured. Times are in seconds.
struct RequestResult {
  bool success = false;
  std::string error;          // why it failed (empty on success)
  double start = 0;           // send time, seconds after the benchmark started
  double ttft = 0;
  double e2el = 0;
  std::vector<double> itls;   // gaps between consecutive token chunks
  int prompt_len = 0;         // prompt tokens (the server's usage when it reports one)
  int output_len = 0;         // output tokens (usage when present, else token chunks)
};

// numpy.percentile's default ("linear"): the q-th percentile (0..100) of the
// values, interpolating between the two nearest ranks. Empty input gives 0.
double percentile(std::vector<double> values, double q);

struct Summary {
  double mean = 0, median = 0, std = 0, p90 = 0, p99 = 0;  // std is numpy's (population)
};
Summary summarize(const std::vector<double>& values);

// TPOT of one request, or nothing when it produced fewer than two tokens.
std::optional<double> time_per_output_token(const RequestResult& r);

// Service-level objective: a request attains it only if its TTFT and EVERY
// inter-token gap are within the limits (not the mean gap).
struct Slo {
  double ttft = 0;  // seconds
  double tbt = 0;   // seconds
};
bool meets_slo(const RequestResult& r, const Slo& slo);
// Parses "ttft:MS,tbt:MS" (either part may be omitted, meaning no limit).
Slo parse_slo(const std::string& spec);

struct BenchMetrics {
  int completed = 0, failed = 0;
  std::string first_error;
  double duration = 0;  // seconds from the first send to the last response
  long long total_input_tokens = 0, total_output_tokens = 0;
  double request_throughput = 0;      // completed requests / s
  double output_throughput = 0;       // output tokens / s
  double total_token_throughput = 0;  // (input + output tokens) / s
  Summary ttft, tpot, itl, e2el;      // seconds
  std::optional<Slo> slo;
  int slo_met = 0;
  double goodput = 0;         // requests meeting the SLO / s
  double slo_attainment = 0;  // percent of all requests (failed ones count as missed)
  double tbt_gaps_met = 100;  // percent of all inter-token gaps within the SLO's tbt
};

BenchMetrics compute_metrics(const std::vector<RequestResult>& results, double duration,
                             const std::optional<Slo>& slo);

}  // namespace strata::bench
