#include "sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include <fmt/core.h>

#include "bench/arrivals.h"
#include "core/error.h"
#include "sim/step_estimate.h"

namespace strata::sim {

std::vector<SimRequest> make_workload(const bench::DatasetOptions& dataset, double request_rate, double burstiness) {
  if (dataset.kind == bench::DatasetKind::Prefix)
    fail("dataset 'prefix' needs real prompt text; the simulator supports random, sharegpt and arxiv");
  bench::DatasetOptions unclipped = dataset;
  unclipped.max_model_len = 1 << 30;
  const std::vector<bench::RequestLengths> lengths = bench::sample_lengths(unclipped);
  const std::vector<double> arrivals = bench::arrival_times(int(lengths.size()), request_rate, burstiness, dataset.seed);
  const int64_t max_len = dataset.max_model_len;
  std::vector<SimRequest> requests;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const int64_t output = std::min<int64_t>(lengths[i].output, max_len / 4);
    const int64_t prompt = std::min<int64_t>(lengths[i].prompt, max_len - output);
    requests.push_back({std::isinf(arrivals[i]) ? 0 : arrivals[i], int32_t(prompt), int32_t(output)});
  }
  return requests;
}

std::string PolicySpec::label() const {
  if (name == "chunked") return "chunked:" + std::to_string(token_budget);
  if (name == "layered") return "layered:" + std::to_string(num_stages);
  if (name == "slo") return fmt::format("slo:{:g}", tbt_slo_ms);
  return name;
}

PolicySpec parse_policy_spec(const std::string& spec) {
  PolicySpec p;
  const size_t colon = spec.find(':');
  p.name = spec.substr(0, colon);
  if (p.name != "slo") make_schedule_policy(p.name);  // rejects unknown names
  if (colon == std::string::npos) return p;
  const std::string arg = spec.substr(colon + 1);
  char* end = nullptr;
  const long value = std::strtol(arg.c_str(), &end, 10);
  if (arg.empty() || *end != '\0' || value < 1 || value > (1 << 20))
    fail("policy '{}': '{}' is not a positive integer", spec, arg);
  if (p.name == "chunked") p.token_budget = int32_t(value);
  else if (p.name == "layered") p.num_stages = int32_t(value);
  else if (p.name == "slo") p.tbt_slo_ms = double(value);
  else fail("policy '{}': whole takes no parameter", spec);
  return p;
}

SchedulerConfig scheduler_config(const SimSetup& setup) {
  SchedulerConfig c;
  c.num_layers = int32_t(setup.model.num_layers);
  c.max_model_len = setup.max_model_len;
  c.max_num_seqs = setup.max_num_seqs;
  c.max_num_batched_tokens = setup.policy.token_budget > 0 ? setup.policy.token_budget
                                                           : default_max_num_batched_tokens(setup.policy.name);
  c.num_stages = setup.policy.num_stages > 0 ? setup.policy.num_stages : setup.model.default_stages;
  c.stage_rule = setup.stage_rule;
  c.tokens_per_stage = setup.tokens_per_stage;
  c.tbt_slo_seconds = setup.policy.tbt_slo_ms / 1000;
  c.overlap_cohorts = setup.overlap_cohorts;
  c.validate();
  return c;
}

namespace {

int64_t kv_blocks_for(const SimSetup& s) {
  if (s.num_kv_blocks > 0) return s.num_kv_blocks;
  const double usable = s.hardware.memory_bytes * s.hardware.kv_cache_fraction * s.tensor_parallel;
  const double kv_bytes = usable - s.model.total_weight_bytes();
  const int64_t blocks = int64_t(kv_bytes / (s.model.kv_bytes_per_token() * s.block_size));
  if (blocks < s.max_model_len / s.block_size + 1)
    fail("{} x {} cannot hold {} ({:.1f} GB of weights) and one {}-token sequence's KV cache",
         s.tensor_parallel, s.hardware.name, s.model.name, s.model.total_weight_bytes() / 1e9, s.max_model_len);
  return std::min<int64_t>(blocks, 1 << 24);
}

}  // namespace

SimResult simulate(const SimSetup& setup, const std::vector<SimRequest>& requests, const StepObserver& observer) {
  SimResult result;
  result.num_kv_blocks = kv_blocks_for(setup);
  BlockManager blocks(int32_t(result.num_kv_blocks), setup.block_size, /*enable_prefix_caching=*/false);
  const StepSecondsEstimate estimate =
      setup.policy.name == "slo"
          ? step_seconds_estimate(setup.model, setup.hardware, setup.tensor_parallel, setup.router.skew)
          : StepSecondsEstimate{};
  Scheduler scheduler(scheduler_config(setup), blocks, make_schedule_policy(setup.policy.name, estimate));
  CostModel cost_model(setup.model, setup.hardware, setup.tensor_parallel, setup.router);

  std::vector<size_t> order(requests.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].arrival < requests[b].arrival; });

  std::vector<std::unique_ptr<Sequence>> seqs(requests.size());
  std::vector<std::vector<double>> token_times(requests.size());
  result.requests.resize(requests.size());
  double now = 0;
  size_t next = 0;  // into order
  while (next < order.size() || scheduler.has_unfinished()) {
    for (; next < order.size() && requests[order[next]].arrival <= now; ++next) {
      const size_t i = order[next];
      const SimRequest& r = requests[i];
      bench::RequestResult& out = result.requests[i];
      out.start = r.arrival;
      out.prompt_len = r.prompt_len;
      auto seq = std::make_unique<Sequence>();
      seq->id = int64_t(i);
      seq->prompt.assign(size_t(std::max(r.prompt_len, 0)), 0);  // contents unused: no prefix caching
      seq->max_tokens = r.output_len;
      try {
        scheduler.add(*seq);
        seqs[i] = std::move(seq);
      } catch (const Error& e) {
        out.error = e.what();
      }
    }
    if (!scheduler.has_unfinished()) {
      if (next < order.size()) now = std::max(now, requests[order[next]].arrival);
      continue;
    }
    const StepPlan plan = scheduler.schedule();
    if (plan.empty()) {
      // Nothing fits until a request finishes, and none is running.
      if (next >= order.size()) fail("simulation stuck: {} requests wait and none can be admitted", scheduler.num_waiting());
      now = std::max(now, requests[order[next]].arrival);
      continue;
    }
    const StepCost cost = cost_model.step(plan);
    if (observer) observer(plan, cost);
    now += cost.seconds;
    ++result.steps;
    result.busy_seconds += cost.seconds;
    result.expert_bytes += cost.expert_bytes;
    result.experts_touched += cost.experts_touched;
    result.moe_calls += cost.moe_calls;
    scheduler.on_step_done(plan, cost.seconds);
    for (const PlanEntry& e : plan.entries) {
      if (!e.needs_logits) continue;
      Sequence& seq = *e.seq;
      seq.output.push_back(0);
      token_times[size_t(seq.id)].push_back(now);
      if (int32_t(seq.output.size()) >= seq.max_tokens) scheduler.finish(seq);
    }
  }

  double end = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    bench::RequestResult& out = result.requests[i];
    const std::vector<double>& times = token_times[i];
    if (times.empty()) {
      if (out.error.empty()) out.error = "produced no tokens";
      continue;
    }
    out.success = true;
    out.ttft = times.front() - out.start;
    out.e2el = times.back() - out.start;
    for (size_t t = 1; t < times.size(); ++t) out.itls.push_back(times[t] - times[t - 1]);
    out.output_len = int(times.size());
    result.prompt_tokens += out.prompt_len;
    end = std::max(end, times.back());
  }
  const double start = requests.empty() ? 0 : requests[order.front()].arrival;
  result.metrics = bench::compute_metrics(result.requests, end - start, setup.slo);
  return result;
}

}  // namespace strata::sim
