#pragma once
// Prices one StepPlan on a hardware profile, as a roofline per operation:
// an operation takes max(FLOPs / (peak x efficiency), bytes / (bandwidth x
// efficiency)), plus (1 - roofline_overlap) x the smaller of the two (0 on a
// GPU; see hardware_profile.h). For each layer segment of the plan (layer_segments in
// step_plan.h) and each layer in it, with R = the segment's rows:
//   attention projections  2 R x params FLOPs; q/k/v/o weights read once
//                          (matmul_efficiency, bandwidth_efficiency)
//   attention scores       4 x head_dim x q_heads x (keys each query sees)
//                          FLOPs (causal: a prompt chunk of T new tokens
//                          after P cached ones sees T P + T (T + 1) / 2 keys;
//                          a decode sees its context); KV read once per entry
//                          and the new tokens' KV written
//                          (attention_efficiency, bandwidth_efficiency)
//   MoE                    2 R x top_k x expert params FLOPs; bytes = distinct
//                          experts touched (sampled router) x expert bytes
//                          (expert_efficiency, expert_bandwidth_efficiency),
//                          the router gate's FLOPs and bytes included
//   dense MLP              (non-MoE layers) 2 R x params FLOPs, weights once
//   all-reduce (TP > 1)    2 per layer, after attention and after the MLP, of
//                          R x hidden BF16 values: latency + bytes / bus bandwidth
//   overhead               layer_overhead per layer
// plus the LM head (a matmul) for the rows that need logits, logits_overhead
// per such row (sampling, and whatever the LM head costs beyond the matmul
// rate) and step_overhead. With tensor parallelism every
// FLOP and weight byte is split evenly over the TP devices (heads, expert FFN
// columns and vocab are sharded). Activations' own memory traffic is not
// counted.
//
// A step is first reduced to its StepWork (the operations' FLOPs and bytes
// and the overhead counts, which do not depend on the hardware) and then
// priced; `strata sim calibrate` fits a profile's rates to real step times
// through the same StepWork (sim/profile_fit.h).
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/step_plan.h"
#include "sim/expert_router.h"
#include "sim/hardware_profile.h"
#include "sim/sim_model.h"

namespace strata::sim {

// Which of the profile's rates an operation runs at.
enum class OpKind {
  Matmul,     // dense weights: attention projections, router gate, dense MLP, LM head
  Attention,  // scores and the weighted sum over the KV cache
  Expert,     // routed experts
};

struct Operation {
  OpKind kind = OpKind::Matmul;
  double flops = 0, bytes = 0;  // whole model (summed over TP devices), one occurrence
  double count = 1;             // occurrences in the step (layers of a segment)
};

struct StepWork {
  std::vector<Operation> ops;
  double layers = 0;       // layers run, summed over segments
  double logits_rows = 0;  // rows whose logits are computed and sampled
  double steps = 0;        // 1, or 0 for an empty plan
  // All-reduces: (rows, occurrences).
  std::vector<std::pair<int64_t, double>> allreduces;
};

struct StepCost {
  double seconds = 0;
  // Whole-model totals (summed over TP devices).
  double flops = 0;
  double weight_bytes = 0;  // weights read, experts included
  double kv_bytes = 0;      // KV cache read and written
  double expert_bytes = 0;  // routed experts' weights read
  int64_t experts_touched = 0;  // distinct experts, summed over MoE layer calls
  int64_t moe_calls = 0;
  double allreduce_seconds = 0;
  double overhead_seconds = 0;
};

struct RouterOptions {
  double skew = 0;  // 0: uniform routing
  uint64_t seed = 0;
  // Price the expected number of distinct experts instead of a sampled one:
  // the same plan always costs the same (for a scheduler's estimates).
  bool expected = false;
};

// Seconds of one operation on one of `tensor_parallel` devices.
double operation_seconds(const Operation& op, const HardwareProfile& hardware, int32_t tensor_parallel);
// Seconds of the step's work on the profile (overheads and all-reduces included).
double work_seconds(const StepWork& work, const HardwareProfile& hardware, int32_t tensor_parallel);

class CostModel {
 public:
  CostModel(const SimModel& model, const HardwareProfile& hardware, int32_t tensor_parallel,
            const RouterOptions& router);

  StepCost step(const StepPlan& plan);
  // The plan's operations; `cost` (optional) receives the hardware-free
  // totals (FLOPs, bytes, experts).
  StepWork work(const StepPlan& plan, StepCost* cost = nullptr);

  const SimModel& model() const { return model_; }
  const HardwareProfile& hardware() const { return hardware_; }

 private:
  SimModel model_;
  HardwareProfile hardware_;
  int32_t tp_;
  ExpertRouter router_;
  bool expected_routing_;
};

}  // namespace strata::sim
