#include "sim/sim_report.h"

#include <fmt/core.h>

#include <algorithm>

#include <nlohmann/json.hpp>

namespace strata::sim {

namespace {

constexpr double kMs = 1e3;

const SimRun* find_run(const SettingResult& s, const std::string& policy_prefix, double rate) {
  for (const SimRun& r : s.runs) {
    if (r.request_rate == rate && r.policy.rfind(policy_prefix, 0) == 0) return &r;
  }
  return nullptr;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

}  // namespace

std::string format_setting(const SettingResult& s) {
  std::string out = fmt::format("== {} | {} | {} x{} | SLO {} | {} prompts ==\n", s.model, s.dataset, s.hardware,
                                s.tensor_parallel, s.slo.empty() ? "none" : s.slo, s.num_prompts);
  out += fmt::format("{:<12} {:>5} | {:>9} {:>9} {:>9} | {:>8} {:>8} | {:>9} | {:>6} | {:>11} | {:>7}\n", "policy",
                     "req/s", "TTFT mean", "median", "p99", "ITL mean", "p99", "TPOT mean", "SLO %",
                     "expMB/ptok", "steps");
  for (const SimRun& run : s.runs) {
    const bench::BenchMetrics& m = run.result.metrics;
    out += fmt::format("{:<12} {:>5.2f} | {:>9.1f} {:>9.1f} {:>9.1f} | {:>8.2f} {:>8.2f} | {:>9.2f} | {:>6.1f} | {:>11.2f} | {:>7}",
                       run.policy, run.request_rate, m.ttft.mean * kMs, m.ttft.median * kMs, m.ttft.p99 * kMs,
                       m.itl.mean * kMs, m.itl.p99 * kMs, m.tpot.mean * kMs, m.slo_attainment,
                       run.result.expert_bytes_per_prompt_token() / 1e6, run.result.steps);
    if (m.failed > 0) out += fmt::format("  ({} failed: {})", m.failed, m.first_error);
    out += "\n";
  }
  std::vector<double> rates;
  for (const SimRun& run : s.runs) {
    if (std::find(rates.begin(), rates.end(), run.request_rate) == rates.end()) rates.push_back(run.request_rate);
  }
  for (double rate : rates) {
    const SimRun* layered = find_run(s, "layered", rate);
    const SimRun* chunked = find_run(s, "chunked", rate);
    if (!layered || !chunked) continue;
    const bench::BenchMetrics &l = layered->result.metrics, &c = chunked->result.metrics;
    out += fmt::format(
        "layered/chunked @ {:.2f} req/s: TTFT mean {:.2f} median {:.2f} | TPOT mean {:.2f} | ITL p99 {:.2f} | "
        "SLO {:.1f}% vs {:.1f}% | expert bytes/prompt token {:.2f}\n",
        rate, ratio(l.ttft.mean, c.ttft.mean), ratio(l.ttft.median, c.ttft.median), ratio(l.tpot.mean, c.tpot.mean),
        ratio(l.itl.p99, c.itl.p99), l.slo_attainment, c.slo_attainment,
        ratio(layered->result.expert_bytes_per_prompt_token(), chunked->result.expert_bytes_per_prompt_token()));
  }
  return out;
}

nlohmann::json setting_json(const SettingResult& s) {
  nlohmann::json runs = nlohmann::json::array();
  const auto summary = [](const bench::Summary& x) {
    return nlohmann::json{{"mean_ms", x.mean * kMs}, {"median_ms", x.median * kMs}, {"p90_ms", x.p90 * kMs},
                          {"p99_ms", x.p99 * kMs}};
  };
  for (const SimRun& run : s.runs) {
    const bench::BenchMetrics& m = run.result.metrics;
    runs.push_back({{"policy", run.policy},
                    {"request_rate", run.request_rate},
                    {"completed", m.completed},
                    {"failed", m.failed},
                    {"duration_s", m.duration},
                    {"request_throughput", m.request_throughput},
                    {"output_throughput", m.output_throughput},
                    {"ttft", summary(m.ttft)},
                    {"tpot", summary(m.tpot)},
                    {"itl", summary(m.itl)},
                    {"e2el", summary(m.e2el)},
                    {"slo_attainment_pct", m.slo_attainment},
                    {"tbt_gaps_met_pct", m.tbt_gaps_met},
                    {"goodput", m.goodput},
                    {"steps", run.result.steps},
                    {"busy_s", run.result.busy_seconds},
                    {"prompt_tokens", run.result.prompt_tokens},
                    {"expert_bytes", run.result.expert_bytes},
                    {"expert_bytes_per_prompt_token", run.result.expert_bytes_per_prompt_token()},
                    {"experts_per_moe_call",
                     run.result.moe_calls ? double(run.result.experts_touched) / double(run.result.moe_calls) : 0.0},
                    {"num_kv_blocks", run.result.num_kv_blocks}});
  }
  return {{"model", s.model},          {"dataset", s.dataset},     {"hardware", s.hardware},
          {"tensor_parallel", s.tensor_parallel}, {"slo", s.slo}, {"num_prompts", s.num_prompts},
          {"runs", std::move(runs)}};
}

}  // namespace strata::sim
