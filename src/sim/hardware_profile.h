#pragma once
// A device the cost model prices steps on: peak rates, the fraction of them
// real kernels reach, fixed overheads, and the interconnect for tensor
// parallelism. Built in: h100-sxm. Anything else (e.g. this CPU, written by
// `strata sim calibrate`) is a JSON file with the same field names; the
// expert_* fields, logits_overhead and roofline_overlap may be left out
// (profiles written before they existed), and then default to
// matmul_efficiency, bandwidth_efficiency, 0 and 1: experts priced as any
// other matmul, a pure roofline.
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace strata::sim {

struct HardwareProfile {
  std::string name;
  double peak_flops = 0;        // per device, dense BF16 matmul FLOP/s
  double memory_bandwidth = 0;  // per device, bytes/s
  // Fractions of the peaks that kernels reach: time = work / (peak x efficiency).
  double matmul_efficiency = 1;
  double attention_efficiency = 1;
  double bandwidth_efficiency = 1;
  // Routed experts' rates, which differ from dense matmuls' when the experts
  // are stored differently (e.g. INT4 experts next to BF16 attention on a CPU).
  double expert_efficiency = 1;
  double expert_bandwidth_efficiency = 1;
  double step_overhead = 0;   // seconds per step (scheduling, input prep, sampling)
  double layer_overhead = 0;  // seconds per layer a segment runs (kernel launches)
  double logits_overhead = 0;  // seconds per row whose logits are sampled
  // How much of an operation's shorter side (compute or memory) hides under
  // the longer: time = max + (1 - overlap) x min. 1 is the roofline (a GPU
  // streams weights while its tensor cores work); a CPU kernel that decodes
  // a weight panel and then multiplies it pays for both, nearer 0.
  double roofline_overlap = 1;
  // All-reduce across the tensor-parallel group: time = latency + bytes / bus bandwidth.
  double allreduce_bus_bandwidth = 0;  // bytes/s
  double allreduce_latency = 0;        // seconds
  double memory_bytes = 0;             // per device, for weights + KV cache
  double kv_cache_fraction = 0.9;      // of memory usable for weights + KV (vLLM's gpu_memory_utilization)

  // Throws Error naming `source` and the field when a value is out of range.
  void validate(const std::string& source) const;
  nlohmann::json to_json() const;
  static HardwareProfile from_json(const nlohmann::json& j, const std::string& source);
};

// "h100-sxm" or a profile JSON file; throws Error otherwise.
HardwareProfile resolve_hardware(const std::string& name_or_file);
HardwareProfile h100_sxm_profile();

}  // namespace strata::sim
