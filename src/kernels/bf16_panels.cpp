#include "kernels/bf16_panels.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu_isa.h"

namespace strata {

void Bf16Panels::Free::operator()(uint32_t* p) const { std::free(p); }

void relay_bf16_panel(const uint8_t* data, size_t row_bytes, int64_t rows, int64_t cols, int64_t row0, uint32_t* out) {
  const int64_t pairs = (cols + 1) / 2;
  for (int64_t i = 0; i < Bf16Panels::kRows; ++i) {
    const int64_t r = row0 + i;
    if (r >= rows) {
      for (int64_t j = 0; j < pairs; ++j) out[j * Bf16Panels::kRows + i] = 0;
      continue;
    }
    const uint8_t* row = data + size_t(r) * row_bytes;
    for (int64_t j = 0; j < pairs; ++j) {
      uint16_t lo = 0, hi = 0;
      std::memcpy(&lo, row + 4 * j, 2);
      if (2 * j + 1 < cols) std::memcpy(&hi, row + 4 * j + 2, 2);
      out[j * Bf16Panels::kRows + i] = uint32_t(lo) | uint32_t(hi) << 16;
    }
  }
}

Bf16Panels::Bf16Panels(const uint8_t* data, int64_t rows, int64_t cols, size_t row_bytes) : rows_(rows), cols_(cols) {
  if (rows <= 0 || cols <= 0) fail("bf16 panels: shape [{}, {}] needs rows > 0 and cols > 0", rows, cols);
  auto* p = static_cast<uint32_t*>(std::aligned_alloc(64, (nbytes() + 63) / 64 * 64));
  if (!p) throw std::bad_alloc();
  words_.reset(p);
  const auto relay = isa_supported(Isa::Avx512) ? relay_bf16_panel_avx512 : relay_bf16_panel;
  ThreadPool::global().parallel_for(panels(), [&](int64_t p0, int64_t p1) {
    for (int64_t q = p0; q < p1; ++q) relay(data, row_bytes, rows, cols, q * kRows, p + q * pairs() * kRows);
  });
}

}  // namespace strata
