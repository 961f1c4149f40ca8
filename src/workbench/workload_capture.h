#pragma once
// Workload capture (`strata serve --trace-workloads DIR`): the kernel calls
// the engine makes (kernels/kernel_calls.h) become FlashInfer-Trace
// workloads of the dataset in DIR. A call maps to its definition by the
// dataset's naming (gemm_f32_bf16_n{N}_k{K}, gemm_w4a16_g32_n{N}_k{K},
// rmsnorm_f32_h{H}, gqa_paged_{decode|prefill_causal}_*, mla_paged_*, and
// an INT4 MoE layer's routed experts moe_w4a16_g32_precomputed_*); a
// definition DIR lacks is written from a template. Dedup is
// flashinfer-bench's keep_first_k_by_axes: the first k calls per
// (definition, var-axis values) are kept, and at most `max_workloads` in all;
// inputs are "random" (upstream's dump_none, its default for GEMMs and norms:
// random weights time the same as real ones), except index tensors, which
// are safetensors blobs: the paged batches' page tables with their real
// query and context lengths (paged_workloads.h), and the MoE layers' expert
// ids as routed. Nothing is written until flush().
#include <cstdint>
#include <string>

namespace strata {

struct CaptureOptions {
  std::string dir;
  int keep_per_axes = 1;
  int max_workloads = 2000;
};

// Starts observing (one capture per process); throws Error when one runs.
void start_workload_capture(const CaptureOptions& options);
// Stops observing and writes what was captured; returns how many workloads.
// A no-op returning 0 when no capture runs.
int flush_workload_capture();

}  // namespace strata
