#include "sim/cost_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "engine/sequence.h"

namespace strata::sim {

namespace {

// Keys the queries of tokens [begin, end) attend to under a causal mask.
double causal_keys(int32_t begin, int32_t end) {
  const double n = double(end - begin);
  return n * double(begin) + n * (n + 1) / 2;
}

double allreduce_seconds(int64_t rows, const SimModel& m, const HardwareProfile& hw) {
  // Ring all-reduce moves 2 (n - 1) / n of the buffer per device; the bus
  // bandwidth (as nccl-tests reports it) already folds that factor in.
  const double bytes = double(rows * m.hidden) * 2;  // BF16 activations
  return hw.allreduce_latency + bytes / hw.allreduce_bus_bandwidth;
}

}  // namespace

double operation_seconds(const Operation& op, const HardwareProfile& hw, int32_t tp) {
  double flops_efficiency = hw.matmul_efficiency, bandwidth_efficiency = hw.bandwidth_efficiency;
  if (op.kind == OpKind::Attention) flops_efficiency = hw.attention_efficiency;
  if (op.kind == OpKind::Expert) {
    flops_efficiency = hw.expert_efficiency;
    bandwidth_efficiency = hw.expert_bandwidth_efficiency;
  }
  const double compute = op.flops / tp / (hw.peak_flops * flops_efficiency);
  const double memory = op.bytes / tp / (hw.memory_bandwidth * bandwidth_efficiency);
  return std::max(compute, memory) + (1 - hw.roofline_overlap) * std::min(compute, memory);
}

double work_seconds(const StepWork& work, const HardwareProfile& hw, int32_t tp) {
  double seconds = 0;
  for (const Operation& op : work.ops) seconds += op.count * operation_seconds(op, hw, tp);
  return seconds + work.layers * hw.layer_overhead + work.logits_rows * hw.logits_overhead +
         work.steps * hw.step_overhead;
}

CostModel::CostModel(const SimModel& model, const HardwareProfile& hardware, int32_t tensor_parallel,
                     const RouterOptions& router)
    : model_(model),
      hardware_(hardware),
      tp_(tensor_parallel),
      router_(int32_t(std::max<int64_t>(model.num_experts, 1)), int32_t(std::max<int64_t>(model.top_k, 1)),
              router.skew, router.seed),
      expected_routing_(router.expected) {
  if (tensor_parallel < 1 || tensor_parallel > 64) fail("--tp must be in [1, 64], got {}", tensor_parallel);
  if (model.num_q_heads % tensor_parallel != 0)
    fail("--tp {} does not divide the {} attention heads of {}", tensor_parallel, model.num_q_heads, model.name);
  hardware_.validate(hardware.name);
  if (tensor_parallel > 1 && !(hardware.allreduce_bus_bandwidth > 0))
    fail("{}: --tp {} needs a positive allreduce_bus_bandwidth", hardware.name, tensor_parallel);
}

StepWork CostModel::work(const StepPlan& plan, StepCost* cost) {
  const SimModel& m = model_;
  StepWork work;
  StepCost totals;
  for (const LayerSegment& segment : layer_segments(plan)) {
    int64_t rows = 0;
    double keys = 0, kv_elements = 0;  // per layer
    for (int32_t index : segment.entries) {
      const PlanEntry& e = plan.entries[size_t(index)];
      rows += e.num_tokens();
      keys += causal_keys(e.token_begin, e.token_end);
      // Read the KV of every position the entry sees once, write its new tokens'.
      kv_elements += double(2 * m.kv_dim()) * double(e.token_end + e.num_tokens());
    }
    const double layers = segment.layer_end - segment.layer_begin;
    // Everything but the MoE is the same in every layer of the segment.
    const Operation projections{OpKind::Matmul, 2.0 * double(rows) * double(m.attn_params()), m.attn_bytes, layers};
    const Operation scores{OpKind::Attention, 4.0 * double(m.head_dim * m.num_q_heads) * keys,
                           kv_elements * m.kv_bytes_per_element, layers};
    work.ops.push_back(projections);
    work.ops.push_back(scores);
    work.layers += layers;
    if (tp_ > 1) work.allreduces.emplace_back(rows, 2 * layers);
    totals.flops += layers * (projections.flops + scores.flops);
    totals.weight_bytes += layers * m.attn_bytes;
    totals.kv_bytes += layers * scores.bytes;
    for (int32_t layer = segment.layer_begin; layer < segment.layer_end; ++layer) {
      Operation mlp;
      if (m.is_moe_layer(layer)) {
        // The router gate goes with the experts: one operation per MoE layer.
        const double distinct =
            expected_routing_ ? router_.expected_distinct_experts(rows) : double(router_.distinct_experts(rows));
        const double expert_bytes = distinct * m.expert_bytes;
        mlp = {OpKind::Expert, 2.0 * double(rows) * double(m.top_k * m.expert_params() + m.hidden * m.num_experts),
               expert_bytes + m.router_bytes, 1};
        totals.expert_bytes += expert_bytes;
        totals.experts_touched += std::llround(distinct);
        ++totals.moe_calls;
      } else {
        mlp = {OpKind::Matmul, 2.0 * double(rows) * double(m.dense_mlp_params()), m.dense_mlp_bytes, 1};
      }
      work.ops.push_back(mlp);
      totals.flops += mlp.flops;
      totals.weight_bytes += mlp.bytes;
    }
  }
  for (const PlanEntry& e : plan.entries) work.logits_rows += e.needs_logits ? 1 : 0;
  if (work.logits_rows > 0) {
    const Operation lm_head{OpKind::Matmul, 2.0 * work.logits_rows * double(m.vocab * m.hidden), m.lm_head_bytes, 1};
    work.ops.push_back(lm_head);
    totals.flops += lm_head.flops;
    totals.weight_bytes += lm_head.bytes;
  }
  work.steps = plan.empty() ? 0 : 1;
  if (cost) *cost = totals;
  return work;
}

StepCost CostModel::step(const StepPlan& plan) {
  const HardwareProfile& hw = hardware_;
  StepCost cost;
  const StepWork w = work(plan, &cost);
  for (const auto& [rows, count] : w.allreduces) cost.allreduce_seconds += count * allreduce_seconds(rows, model_, hw);
  cost.overhead_seconds = w.layers * hw.layer_overhead + w.logits_rows * hw.logits_overhead + w.steps * hw.step_overhead;
  cost.seconds = work_seconds(w, hw, tp_) + cost.allreduce_seconds;
  return cost;
}

}  // namespace strata::sim
