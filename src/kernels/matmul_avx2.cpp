// AVX2 matmul: the tiles of the AVX-512 variant (see matmul_avx512.cpp)
// with 8-lane vectors, without its row groups and column blocks (tried:
// bench_kernels on one thread showed no gain for this solution). Sixteen
// ymm registers allow a 4-token x 2-row tile; activations are read from L1
// as FMA memory operands. A column tail that is
// not a multiple of 32 (plain types only) is finished with scalar code.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/gemv_prefetch.h"
#include "kernels/matmul.h"
#include "kernels/weight_blocks.h"

namespace strata {
namespace {

constexpr int kTileTokens = 4, kTileRows = 2, kPanelRows = 16;
// One token takes 4 rows at a time: a row's sum is one chain of dependent
// FMAs, so a row alone waits on FMA latency (BF16 GEMV on one thread:
// 8 GB/s by rows, 15.6-19.8 GB/s 4 rows at a time; bench_kernels).
constexpr int kGemvRows = 4;

inline float load_scale(const uint8_t* block) {
  uint16_t d;
  std::memcpy(&d, block, 2);
  return _cvtsh_ss(d);
}

// Each loader decodes the 32 weights of columns [c, c + 32) of one row into
// four ymm, and `at` decodes a single weight (for the column tail). Their
// loops are unrolled: otherwise GCC turns LoadF32's into a 128-byte memcpy
// to the stack in 16-byte moves that the FMAs read back 32 bytes at a time,
// a store-forwarding stall per load (the panel path of every block type ran
// at 7 GFLOP/s on one thread), and keeps the others' vectors in memory.
struct LoadF32 {
  static constexpr int64_t kBytesPer32 = 128;  // stored bytes of 32 columns
  static void load(const uint8_t* row, int64_t c, __m256 w[4]) {
    const float* p = reinterpret_cast<const float*>(row) + c;
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) w[i] = _mm256_loadu_ps(p + 8 * i);
  }
  static float at(const uint8_t* row, int64_t c) { return reinterpret_cast<const float*>(row)[c]; }
};
struct LoadBF16 {
  static constexpr int64_t kBytesPer32 = 64;  // stored bytes of 32 columns
  static void load(const uint8_t* row, int64_t c, __m256 w[4]) {
    const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + c;
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8 * i));
      w[i] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
  static float at(const uint8_t* row, int64_t c) { return bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[c]); }
};
struct LoadF16 {
  static constexpr int64_t kBytesPer32 = 64;  // stored bytes of 32 columns
  static void load(const uint8_t* row, int64_t c, __m256 w[4]) {
    const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + c;
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) w[i] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8 * i)));
  }
  static float at(const uint8_t* row, int64_t c) { return f16_to_f32(reinterpret_cast<const uint16_t*>(row)[c]); }
};
struct LoadQ8_0 {
  static constexpr int64_t kBytesPer32 = kQ8_0BlockBytes;  // stored bytes of 32 columns
  static void load(const uint8_t* row, int64_t c, __m256 w[4]) {
    const uint8_t* block = row + (c / kQuantBlock) * kQ8_0BlockBytes;
    const __m256 d = _mm256_set1_ps(load_scale(block));
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + 8 * i));
      w[i] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
    }
  }
  static float at(const uint8_t*, int64_t) { return 0; }  // never called: no tail
};
struct LoadQ4_0 {
  static constexpr int64_t kBytesPer32 = kQ4_0BlockBytes;  // stored bytes of 32 columns
  static void load(const uint8_t* row, int64_t c, __m256 w[4]) {
    const uint8_t* block = row + (c / kQuantBlock) * kQ4_0BlockBytes;
    const __m256 d = _mm256_set1_ps(load_scale(block));
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
    const __m128i nib = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(bytes, nib), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), nib);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    const __m256i eight = _mm256_set1_epi32(8);
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      w[i] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[i]), eight)));
    }
  }
  static float at(const uint8_t*, int64_t) { return 0; }  // never called: no tail
};

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The fixed-count loops are unrolled so the accumulators stay in registers
// (-O2 does not unroll them by itself).
template <class L, int T, int R>
void tile(const float* x, int64_t ldx, const uint8_t* w, size_t ldw, int64_t cols, float* y, int64_t ldy) {
  __m256 acc[T][R];
  #pragma GCC unroll 4
  for (int t = 0; t < T; ++t)
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[t][r] = _mm256_setzero_ps();
  const int64_t full = cols / 32 * 32;
  for (int64_t c = 0; c < full; c += 32) {
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      if constexpr (T == 1) {
        // The same columns of the next tile's rows (this tile's R rows are
        // the stream; a row of the LM head is 4 KiB).
        const uint8_t* ahead = w + (r + R) * ldw + c / 32 * L::kBytesPer32;
        _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      }
      __m256 wv[4];
      L::load(w + r * ldw, c, wv);
      #pragma GCC unroll 4
      for (int t = 0; t < T; ++t)
        #pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) acc[t][r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * ldx + c + 8 * i), wv[i], acc[t][r]);
    }
  }
  #pragma GCC unroll 4
  for (int t = 0; t < T; ++t) {
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      float sum = hsum(acc[t][r]);
      for (int64_t c = full; c < cols; ++c) sum += x[t * ldx + c] * L::at(w + r * ldw, c);
      y[t * ldy + r] = sum;
    }
  }
}

using TileFn = void (*)(const float*, int64_t, const uint8_t*, size_t, int64_t, float*, int64_t);

template <class L, int T>
TileFn pick_rows(int64_t rows) {
  if constexpr (T == 1) {
    switch (rows) {
      case 1: return tile<L, 1, 1>;
      case 2: return tile<L, 1, 2>;
      case 3: return tile<L, 1, 3>;
      default: return tile<L, 1, 4>;
    }
  }
  return rows == 1 ? tile<L, T, 1> : tile<L, T, 2>;
}
template <class L>
TileFn pick_tile(int64_t tokens, int64_t rows) {
  switch (tokens) {
    case 1: return pick_rows<L, 1>(rows);
    case 2: return pick_rows<L, 2>(rows);
    case 3: return pick_rows<L, 3>(rows);
    default: return pick_rows<L, 4>(rows);
  }
}

template <class L>
void tiles(const float* x, int64_t n, int64_t cols, const uint8_t* w, size_t ldw, int64_t rows, float* y, int64_t ldy) {
  const int64_t tile_rows = n == 1 ? kGemvRows : kTileRows;
  for (int64_t t = 0; t < n; t += kTileTokens) {
    const int64_t nt = std::min<int64_t>(kTileTokens, n - t);
    for (int64_t r = 0; r < rows; r += tile_rows) {
      const int64_t nr = std::min<int64_t>(tile_rows, rows - r);
      pick_tile<L>(nt, nr)(x + t * cols, cols, w + r * ldw, ldw, cols, y + t * ldy + r, ldy);
    }
  }
}

template <class L>
void matmul_typed(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  const WeightMatrix& w = a.w;
  // Plain 16-bit types with a column tail keep the direct path (the panel
  // decoder works in whole steps of 32).
  const bool decode_panel = !std::is_same_v<L, LoadF32> && a.n >= kTileTokens && w.cols % 32 == 0;
  thread_local std::vector<float> panel;
  if (decode_panel) panel.resize(size_t(kPanelRows * w.cols));
  for (int64_t p = row_begin; p < row_end; p += kPanelRows) {
    const int64_t rows = std::min<int64_t>(kPanelRows, row_end - p);
    if (!decode_panel) {
      tiles<L>(a.x, a.n, w.cols, w.row(p), w.row_bytes, rows, a.y + p, w.rows);
      continue;
    }
    for (int64_t r = 0; r < rows; ++r) {
      float* out = panel.data() + r * w.cols;
      for (int64_t c = 0; c < w.cols; c += 32) {
        __m256 v[4];
        L::load(w.row(p + r), c, v);
        for (int i = 0; i < 4; ++i) _mm256_storeu_ps(out + c + 8 * i, v[i]);
      }
    }
    tiles<LoadF32>(a.x, a.n, w.cols, reinterpret_cast<const uint8_t*>(panel.data()), size_t(w.cols) * 4,
                   rows, a.y + p, w.rows);
  }
}

}  // namespace

void matmul_avx2(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  switch (a.w.dtype) {
    case DType::F32: return matmul_typed<LoadF32>(a, row_begin, row_end);
    case DType::BF16: return matmul_typed<LoadBF16>(a, row_begin, row_end);
    case DType::F16: return matmul_typed<LoadF16>(a, row_begin, row_end);
    case DType::Q8_0: return matmul_typed<LoadQ8_0>(a, row_begin, row_end);
    case DType::Q4_0: return matmul_typed<LoadQ4_0>(a, row_begin, row_end);
    default: return matmul_scalar(a, row_begin, row_end);
  }
}

}  // namespace strata
