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
  std::string_view kernel;         // the registry's definition name, e.g. gemm_bf16
  std::span<const int64_t> shape;  // its constant sizes, as shape_choices.h keys them
  int64_t tokens;
};
using KernelCallObserver = void (*)(const KernelCall& call);

// nullptr turns observing off. The observer must be thread-safe.
void set_kernel_call_observer(KernelCallObserver observer);

namespace detail {
extern std::atomic<KernelCallObserver> g_kernel_call_observer;
}

inline void observe_kernel_call(std::string_view kernel, std::span<const int64_t> shape, int64_t tokens) {
  if (const KernelCallObserver o = detail::g_kernel_call_observer.load(std::memory_order_relaxed)) {
    o(KernelCall{kernel, shape, tokens});
  }
}

}  // namespace strata
