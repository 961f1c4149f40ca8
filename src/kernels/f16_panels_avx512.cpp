// The AVX-512 relay of F16Panels (see f16_panels.h): each row's largest
// magnitude and its fp16 values 16 at a time, then Bf16Panels' 16 x 16 word
// transposes, which move 16-bit values whatever they encode.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its
// own flow analysis then reports as uninitialised: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/bf16_panels.h"
#include "kernels/f16_panels.h"

namespace strata {
namespace {

inline __mmask32 lanes32(int64_t n) { return n >= 32 ? ~__mmask32(0) : n <= 0 ? 0 : __mmask32((1u << n) - 1); }

// f16_row_shift, 32 magnitudes at a time.
int row_shift(const uint16_t* row, int64_t cols) {
  __m512i largest = _mm512_setzero_si512();
  const __m512i magnitude = _mm512_set1_epi16(0x7fff);
  for (int64_t c = 0; c < cols; c += 32) {
    const __m512i v = _mm512_maskz_loadu_epi16(lanes32(cols - c), row + c);
    largest = _mm512_max_epu16(largest, _mm512_and_si512(v, magnitude));
  }
  alignas(64) uint16_t lanes[32];
  _mm512_store_si512(lanes, largest);
  return f16_shift_of_largest(*std::max_element(lanes, lanes + 32));
}

}  // namespace

void relay_f16_panel_avx512(const uint8_t* data, size_t row_bytes, int64_t rows, int64_t cols, int64_t row0,
                            uint32_t* out, float* unscale) {
  // The 16 rows as scaled fp16, row-major (zero rows past `rows`), then re-laid.
  const int64_t stride = (cols + 31) / 32 * 32;
  thread_local std::vector<uint16_t> scaled;
  scaled.assign(size_t(F16Panels::kRows * stride), 0);
  for (int64_t i = 0; i < F16Panels::kRows; ++i) {
    unscale[i] = 1.0f;
    if (row0 + i >= rows) continue;
    const auto* row = reinterpret_cast<const uint16_t*>(data + size_t(row0 + i) * row_bytes);
    const int shift = row_shift(row, cols);
    unscale[i] = std::ldexp(1.0f, -shift);
    const __m512 factor = _mm512_set1_ps(std::ldexp(1.0f, shift));
    uint16_t* dst = scaled.data() + i * stride;
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 m = __mmask16(lanes32(cols - c));
      const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, row + c));
      const __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)), factor);
      _mm256_mask_storeu_epi16(dst + c, m, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
  }
  relay_bf16_panel_avx512(reinterpret_cast<const uint8_t*>(scaled.data()), size_t(stride) * 2, F16Panels::kRows, cols, 0,
                          out);
}

}  // namespace strata
