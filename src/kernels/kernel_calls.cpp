#include "kernels/kernel_calls.h"

#include <vector>

namespace strata {

namespace detail {
std::atomic<KernelCallObserver> g_kernel_call_observer{nullptr};
}

void set_kernel_call_observer(KernelCallObserver observer) {
  detail::g_kernel_call_observer.store(observer, std::memory_order_release);
}

void observe_paged_attention(std::string_view kernel, std::span<const int64_t> shape, int64_t n_rows,
                             const int32_t* seq_slots, const int32_t* positions) {
  if (!observing_kernel_calls()) return;
  std::vector<int32_t> q_lens, kv_lens;
  for (int64_t r = 0; r < n_rows; ++r) {
    if (r == 0 || seq_slots[r] != seq_slots[r - 1]) {
      q_lens.push_back(0);
      kv_lens.push_back(0);
    }
    ++q_lens.back();
    kv_lens.back() = positions[r] + 1;
  }
  observe_kernel_call(KernelCall{kernel, shape, n_rows, q_lens, kv_lens});
}

}  // namespace strata
