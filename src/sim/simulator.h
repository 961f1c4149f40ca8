#pragma once
// Discrete-event serving simulation: requests arrive on a virtual clock, the
// engine's own Scheduler (with the chosen policy) plans every step, the
// CostModel says how long the step takes, and the clock advances by that.
// Every token is stamped with the virtual time its step ended, and the
// serving metrics are computed from those stamps exactly as `strata bench
// serve` computes them from a real server. Nothing reads a wall clock, so a
// run is a pure function of its inputs and seed.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/dataset.h"
#include "bench/metrics.h"
#include "engine/scheduler.h"
#include "sim/cost_model.h"

namespace strata::sim {

struct SimRequest {
  double arrival = 0;  // seconds
  int32_t prompt_len = 0, output_len = 0;
};

// Requests with the dataset's lengths (scaled by dataset.scale_lengths) and
// the arrival process's times. Lengths are clipped as `strata bench engine`
// clips them (output to max_model_len / 4, then prompt to the rest), so the
// same dataset, seed, scale and rate give the engine benchmark's trace.
std::vector<SimRequest> make_workload(const bench::DatasetOptions& dataset, double request_rate, double burstiness);

// "chunked[:BUDGET]", "layered[:G]", "whole" or "slo[:TBT_MS]".
struct PolicySpec {
  std::string name;
  int32_t token_budget = 0;  // 0: the policy's default (512 chunked, 8192 layered)
  int32_t num_stages = 0;    // layered G; 0: the model's default
  double tbt_slo_ms = 0;     // slo's target; 0: the run's TBT SLO
  std::string label() const;
};
PolicySpec parse_policy_spec(const std::string& spec);

struct SimSetup {
  SimModel model;
  HardwareProfile hardware;
  int32_t tensor_parallel = 1;
  PolicySpec policy;
  StageRule stage_rule = StageRule::Paper;
  int32_t max_num_seqs = 256;
  int32_t max_model_len = 32768;
  bool overlap_cohorts = true;     // slo: see SchedulerConfig
  int32_t tokens_per_stage = 512;  // layered: a cohort of T tokens runs in about T / this stages
  int32_t block_size = 16;
  int64_t num_kv_blocks = 0;  // 0: what the devices' memory holds after the weights
  RouterOptions router;
  std::optional<bench::Slo> slo;
};

struct SimResult {
  bench::BenchMetrics metrics;
  std::vector<bench::RequestResult> requests;
  int64_t steps = 0;
  double busy_seconds = 0;  // virtual time spent running steps
  int64_t prompt_tokens = 0;  // of requests that were served
  double expert_bytes = 0;    // routed experts' weights read, whole run
  int64_t experts_touched = 0, moe_calls = 0;
  int64_t num_kv_blocks = 0;

  double expert_bytes_per_prompt_token() const { return prompt_tokens ? expert_bytes / double(prompt_tokens) : 0; }
};

// Called after each step with the plan as the scheduler made it (before
// on_step_done) and its cost.
using StepObserver = std::function<void(const StepPlan&, const StepCost&)>;

// The scheduler configuration a setup runs with (the engine's defaults for the policy).
SchedulerConfig scheduler_config(const SimSetup& setup);
SimResult simulate(const SimSetup& setup, const std::vector<SimRequest>& requests,
                   const StepObserver& observer = {});

}  // namespace strata::sim
