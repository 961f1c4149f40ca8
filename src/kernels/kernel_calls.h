#pragma once
// Observing kernel calls, for the workbench's workload capture (`strata
// serve --trace-workloads`): the dispatch points that know their call's
// shape report (kernel definition, shape key, token count) to one observer.
// Off by default; then a call costs one relaxed atomic load.
#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>

namespace strata {

struct KernelCall {
  // The registry's definition name, e.g. gemm_bf16, or kMoeExpertsCall.
  std::string_view kernel;
  std::span<const int64_t> shape;  // its constant sizes, as shape_choices.h keys them
  int64_t tokens;
  // Paged attention only: per sequence of the batch, its query rows and
  // cached positions (the query rows are the last ones).
  std::span<const int32_t> q_lens = {}, kv_lens = {};
  // The routed INT4 experts of a MoE layer only: [tokens, top_k] expert ids.
  std::span<const int32_t> expert_ids = {};
};

// The kernel name of a MoE layer's routed INT4 experts: a composite of
// gemm_w4a16_g32 calls, shape {n_experts, top_k, hidden, intermediate}.
inline constexpr std::string_view kMoeExpertsCall = "moe_experts_w4a16_g32";
using KernelCallObserver = void (*)(const KernelCall& call);

// nullptr turns observing off. The observer must be thread-safe.
void set_kernel_call_observer(KernelCallObserver observer);

namespace detail {
extern std::atomic<KernelCallObserver> g_kernel_call_observer;
}

inline bool observing_kernel_calls() {
  return detail::g_kernel_call_observer.load(std::memory_order_relaxed) != nullptr;
}

inline void observe_kernel_call(const KernelCall& call) {
  if (const KernelCallObserver o = detail::g_kernel_call_observer.load(std::memory_order_relaxed)) o(call);
}

inline void observe_kernel_call(std::string_view kernel, std::span<const int64_t> shape, int64_t tokens) {
  observe_kernel_call(KernelCall{kernel, shape, tokens});
}

// A paged-attention batch as a call: the sequences' query rows and cached
// positions from the batch's rows (a sequence's rows are consecutive, in
// position order). Only when someone observes.
void observe_paged_attention(std::string_view kernel, std::span<const int64_t> shape, int64_t n_rows,
                             const int32_t* seq_slots, const int32_t* positions);

}  // namespace strata
