// The AVX-512 relay of Bf16Panels (see bf16_panels.h): 16 rows x 32
// columns at a time, as 16 x 16 32-bit word transposes, so re-laying at
// load runs near memory speed.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its
// own flow analysis then reports as uninitialised: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <vector>

#include "kernels/bf16_panels.h"

namespace strata {
namespace {

// r[i] (row i's 16 words) becomes r[j] = word j of every row, in 4
// rounds of 16 shuffles.
inline void transpose_16x16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; ++i) {  // 128-bit lanes: 0 and 2, then 1 and 3, of each pair
    t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
    r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

}  // namespace

void relay_bf16_panel_avx512(const uint8_t* data, size_t row_bytes, int64_t rows, int64_t cols, int64_t row0,
                             uint32_t* out) {
  if (row0 + Bf16Panels::kRows > rows) return relay_bf16_panel(data, row_bytes, rows, cols, row0, out);
  // 32 columns (16 word pairs) of the 16 rows at a time; the rest as the reference does.
  const int64_t blocks = cols / 32;
  for (int64_t b = 0; b < blocks; ++b) {
    __m512i r[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(data + size_t(row0 + i) * row_bytes + b * 64);
    transpose_16x16(r);
    for (int j = 0; j < 16; ++j) _mm512_store_si512(out + (b * 16 + j) * Bf16Panels::kRows, r[j]);
  }
  if (blocks * 32 == cols) return;
  // The tail: the reference on the columns from blocks * 32 on, written after the blocks.
  thread_local std::vector<uint32_t> tail;
  const int64_t tail_cols = cols - blocks * 32;
  tail.resize(size_t((tail_cols + 1) / 2 * Bf16Panels::kRows));
  relay_bf16_panel(data + blocks * 64, row_bytes, rows, tail_cols, row0, tail.data());
  std::copy(tail.begin(), tail.end(), out + blocks * 16 * Bf16Panels::kRows);
}

}  // namespace strata
