#include "kernels/kernel_calls.h"

namespace strata {

namespace detail {
std::atomic<KernelCallObserver> g_kernel_call_observer{nullptr};
}

void set_kernel_call_observer(KernelCallObserver observer) {
  detail::g_kernel_call_observer.store(observer, std::memory_order_release);
}

}  // namespace strata
