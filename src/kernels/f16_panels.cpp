#include "kernels/f16_panels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu_isa.h"

namespace strata {

void F16Panels::Free::operator()(void* p) const { std::free(p); }

int f16_row_shift(const uint8_t* row, int64_t cols) {
  uint16_t largest = 0;  // magnitudes order as their bit patterns
  for (int64_t c = 0; c < cols; ++c) {
    uint16_t v;
    std::memcpy(&v, row + 2 * c, 2);
    largest = std::max<uint16_t>(largest, v & 0x7fff);
  }
  return f16_shift_of_largest(largest);
}

int f16_shift_of_largest(uint16_t largest) {
  if (largest == 0 || largest >= 0x7f80) return 0;
  int exponent = 0;  // largest = f * 2^exponent, f in [0.5, 1)
  std::frexp(bf16_to_f32(largest), &exponent);
  return std::clamp(1 - exponent, -126, 126);
}

void relay_f16_panel(const uint8_t* data, size_t row_bytes, int64_t rows, int64_t cols, int64_t row0, uint32_t* out,
                     float* unscale) {
  const int64_t pairs = (cols + 1) / 2;
  for (int64_t i = 0; i < F16Panels::kRows; ++i) {
    const int64_t r = row0 + i;
    if (r >= rows) {
      for (int64_t j = 0; j < pairs; ++j) out[j * F16Panels::kRows + i] = 0;
      unscale[i] = 1.0f;
      continue;
    }
    const uint8_t* row = data + size_t(r) * row_bytes;
    const int shift = f16_row_shift(row, cols);
    const float factor = std::ldexp(1.0f, shift);
    unscale[i] = std::ldexp(1.0f, -shift);
    auto scaled = [&](int64_t c) -> uint32_t {
      if (c >= cols) return 0;
      uint16_t v;
      std::memcpy(&v, row + 2 * c, 2);
      return f32_to_f16(bf16_to_f32(v) * factor);
    };
    for (int64_t j = 0; j < pairs; ++j) out[j * F16Panels::kRows + i] = scaled(2 * j) | scaled(2 * j + 1) << 16;
  }
}

F16Panels::F16Panels(const uint8_t* data, int64_t rows, int64_t cols, size_t row_bytes) : rows_(rows), cols_(cols) {
  if (rows <= 0 || cols <= 0) fail("f16 panels: shape [{}, {}] needs rows > 0 and cols > 0", rows, cols);
  auto* words = static_cast<uint32_t*>(std::aligned_alloc(64, size_t(panels() * pairs() * kRows) * 4 + 64));
  auto* unscale = static_cast<float*>(std::aligned_alloc(64, size_t(panels() * kRows) * 4));
  words_.reset(words);
  unscale_.reset(unscale);
  if (!words || !unscale) throw std::bad_alloc();
  const auto relay = isa_supported(Isa::Avx512) ? relay_f16_panel_avx512 : relay_f16_panel;
  ThreadPool::global().parallel_for(panels(), [&](int64_t p0, int64_t p1) {
    for (int64_t q = p0; q < p1; ++q)
      relay(data, row_bytes, rows, cols, q * kRows, words + q * pairs() * kRows, unscale + q * kRows);
  });
}

}  // namespace strata
