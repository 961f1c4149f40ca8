#include "bench/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace strata::bench {

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  // numpy "linear": the value at fractional rank q/100 * (n - 1).
  const double rank = q / 100.0 * double(values.size() - 1);
  const size_t lo = size_t(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = rank - double(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

Summary summarize(const std::vector<double>& values) {
  Summary s;
  if (values.empty()) return s;
  const double n = double(values.size());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double sq = 0;
  for (double v : values) sq += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(sq / n);
  s.median = percentile(values, 50);
  s.p90 = percentile(values, 90);
  s.p99 = percentile(values, 99);
  return s;
}

std::optional<double> time_per_output_token(const RequestResult& r) {
  if (r.output_len < 2) return std::nullopt;
  return (r.e2el - r.ttft) / double(r.output_len - 1);
}

bool meets_slo(const RequestResult& r, const Slo& slo) {
  if (!r.success || r.ttft > slo.ttft) return false;
  return std::all_of(r.itls.begin(), r.itls.end(), [&](double gap) { return gap <= slo.tbt; });
}

Slo parse_slo(const std::string& spec) {
  constexpr double kNoLimit = std::numeric_limits<double>::infinity();
  Slo slo{kNoLimit, kNoLimit};
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t end = std::min(spec.find(',', pos), spec.size());
    const std::string part = spec.substr(pos, end - pos);
    const size_t colon = part.find(':');
    if (colon == std::string::npos) fail("--slo: '{}' is not KEY:MS (expected ttft:MS,tbt:MS)", part);
    const std::string key = part.substr(0, colon), value = part.substr(colon + 1);
    char* parse_end = nullptr;
    const double ms = std::strtod(value.c_str(), &parse_end);
    if (value.empty() || *parse_end != '\0' || !(ms > 0))
      fail("--slo: '{}' needs a positive number of milliseconds", part);
    if (key == "ttft") {
      slo.ttft = ms / 1000;
    } else if (key == "tbt") {
      slo.tbt = ms / 1000;
    } else {
      fail("--slo: unknown key '{}' (use ttft and tbt)", key);
    }
    pos = end + 1;
  }
  return slo;
}

BenchMetrics compute_metrics(const std::vector<RequestResult>& results, double duration,
                             const std::optional<Slo>& slo) {
  BenchMetrics m;
  m.duration = duration;
  m.slo = slo;
  std::vector<double> ttfts, tpots, itls, e2els;
  for (const RequestResult& r : results) {
    if (!r.success) {
      if (m.failed++ == 0) m.first_error = r.error;
      continue;
    }
    ++m.completed;
    m.total_input_tokens += r.prompt_len;
    m.total_output_tokens += r.output_len;
    ttfts.push_back(r.ttft);
    e2els.push_back(r.e2el);
    if (auto tpot = time_per_output_token(r)) tpots.push_back(*tpot);
    itls.insert(itls.end(), r.itls.begin(), r.itls.end());
    if (slo && meets_slo(r, *slo)) ++m.slo_met;
  }
  if (duration > 0) {
    m.request_throughput = m.completed / duration;
    m.output_throughput = double(m.total_output_tokens) / duration;
    m.total_token_throughput = double(m.total_input_tokens + m.total_output_tokens) / duration;
    m.goodput = m.slo_met / duration;
  }
  if (!results.empty()) m.slo_attainment = 100.0 * m.slo_met / double(results.size());
  if (slo && slo->tbt > 0 && !itls.empty()) {
    const auto met = std::count_if(itls.begin(), itls.end(), [&](double gap) { return gap <= slo->tbt; });
    m.tbt_gaps_met = 100.0 * double(met) / double(itls.size());
  }
  m.ttft = summarize(ttfts);
  m.tpot = summarize(tpots);
  m.itl = summarize(itls);
  m.e2el = summarize(e2els);
  return m;
}

}  // namespace strata::bench
