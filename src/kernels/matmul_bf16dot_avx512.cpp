// The "bf16dot" matmul path for BF16 weights: activations are rounded to
// bf16 (nearest even) once per call and each 32-column step is one
// vdpbf16ps per (token, row) pair, as llama.cpp does for BF16 weights. Twice
// the multiply rate of the exact path and half the operand bytes, at the
// cost of ~3 significant digits in the activations. Other weight dtypes (and
// CPUs without AVX512-BF16) take the exact AVX-512 path. The default where
// the CPU's bf16 dot products outrun its f32 FMAs (bf16_dot_pays_here),
// else selected with STRATA_MATMUL_PATH=bf16dot (see solution_registry.cpp).
//
// The blocking is the F32/F16 exact path's (matmul_avx512.cpp): one token (decode)
// goes row by row, each thread's weights one sequential stream prefetched
// kGemvPrefetchBytes ahead; several tokens go in tiles of 6 tokens x 4 rows
// (24 accumulators, 4 weight vectors and one activation vector: 29 of the 32
// registers; each weight vector feeds 6 vdpbf16ps, no widening needed), rows
// in groups of 64 that each token tile takes a 1024-column block at a time
// (the tile's 12 KiB of bf16 activations stay in L1), with the 16-lane sums
// carried between blocks. Every lane therefore adds its columns' pairs in
// the same order whatever the tile, so a row's result does not depend on
// the batch it is in.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its
// own flow analysis then reports as uninitialised: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <vector>

#include "kernels/gemm_tile_order.h"
#include "kernels/gemv_prefetch.h"
#include "kernels/matmul.h"

namespace strata {
namespace {

constexpr int kTileTokens = 6, kTileRows = 4;
constexpr int64_t kColumnBlock = 1024;
static_assert(kColumnBlock % 32 == 0, "only the last column block may have a masked tail");
constexpr int64_t kRowGroup = 64;
// bf16 activations per token chunk: about 500 tokens of 2048 columns, a share of L3.
constexpr int64_t kChunkBytes = 2 << 20;

inline __mmask32 lanes32(int64_t n) { return n >= 32 ? ~__mmask32(0) : n <= 0 ? 0 : __mmask32((1u << n) - 1); }

// y[t * ldy + r] = sum_c x_t[c] * w_r[c] for t < T, r < R over the columns
// [c_begin, c_end) of `cols`, with x as bf16 rows of stride ldx elements
// (zero-padded to a multiple of 32) and w as bf16 rows of ldw bytes. A tile
// that spans several column blocks keeps its sums in `carry` between them
// (loaded unless `first`, stored unless `last`); the last block reduces to y.
template <int T, int R>
void tile(const uint16_t* x, int64_t ldx, const uint8_t* w, size_t ldw, int64_t c_begin, int64_t c_end,
          int64_t cols, __m512* carry, bool first, bool last, float* y, int64_t ldy) {
  __m512 acc[T][R];
  #pragma GCC unroll 6
  for (int t = 0; t < T; ++t)
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[t][r] = first ? _mm512_setzero_ps() : carry[t * R + r];
  auto step = [&](int64_t c, __mmask32 m) __attribute__((always_inline)) {
    __m512bh wv[R];
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint16_t* row = reinterpret_cast<const uint16_t*>(w + r * ldw);
      if constexpr (T == 1) _mm_prefetch(reinterpret_cast<const char*>(row + c) + kGemvPrefetchBytes, _MM_HINT_T0);
      wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, row + c);
    }
    #pragma GCC unroll 6
    for (int t = 0; t < T; ++t) {
      const __m512bh xv = (__m512bh)_mm512_loadu_si512(x + t * ldx + c);
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[t][r] = _mm512_dpbf16_ps(acc[t][r], xv, wv[r]);
    }
  };
  const int64_t full = c_begin + (c_end - c_begin) / 32 * 32;
  for (int64_t c = c_begin; c < full; c += 32) step(c, ~__mmask32(0));
  if (full < c_end) step(full, lanes32(cols - full));
  #pragma GCC unroll 6
  for (int t = 0; t < T; ++t)
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      if (last) {
        y[t * ldy + r] = _mm512_reduce_add_ps(acc[t][r]);
      } else {
        carry[t * R + r] = acc[t][r];
      }
    }
}

using TileFn = void (*)(const uint16_t*, int64_t, const uint8_t*, size_t, int64_t, int64_t, int64_t, __m512*, bool,
                        bool, float*, int64_t);

template <int T>
TileFn pick_rows(int64_t rows) {
  switch (rows) {
    case 1: return tile<T, 1>;
    case 2: return tile<T, 2>;
    case 3: return tile<T, 3>;
    default: return tile<T, 4>;
  }
}
TileFn pick_tile(int64_t tokens, int64_t rows) {
  switch (tokens) {
    case 1: return pick_rows<1>(rows);
    case 2: return pick_rows<2>(rows);
    case 3: return pick_rows<3>(rows);
    case 4: return pick_rows<4>(rows);
    case 5: return pick_rows<5>(rows);
    default: return pick_rows<6>(rows);
  }
}

// All n tokens against `rows` (at most kRowGroup) weight rows starting at w.
void tiles(const uint16_t* x, int64_t ldx, int64_t n, int64_t cols, const uint8_t* w, size_t ldw, int64_t rows,
           float* y, int64_t ldy) {
  if (n == 1) {
    for (int64_t r = 0; r < rows; ++r) pick_tile(1, 1)(x, ldx, w + r * ldw, ldw, 0, cols, cols, nullptr, true, true, y + r, ldy);
    return;
  }
  alignas(64) __m512 carry[kRowGroup / kTileRows][kTileTokens * kTileRows];
  for_each_gemm_tile(n, kTileTokens, rows, kTileRows, cols, kColumnBlock,
                     [&](int64_t t, int64_t nt, int64_t c0, int64_t c1, int64_t r, int64_t nr) {
                       pick_tile(nt, nr)(x + t * ldx, ldx, w + r * ldw, ldw, c0, c1, cols, carry[r / kTileRows],
                                         c0 == 0, c1 == cols, y + t * ldy + r, ldy);
                     });
}

bool cpu_has_bf16_dot() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

}  // namespace

void matmul_bf16dot(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  const WeightMatrix& w = a.w;
  if (w.dtype != DType::BF16 || !cpu_has_bf16_dot()) return matmul_avx512(a, row_begin, row_end);
  const int64_t ldx = (w.cols + 31) / 32 * 32;
  const int64_t chunk = std::max<int64_t>(kTileTokens, kChunkBytes / (ldx * 2) / kTileTokens * kTileTokens);
  thread_local std::vector<uint16_t> xb;
  for (int64_t t0 = 0; t0 < a.n; t0 += chunk) {
    const int64_t nt = std::min(chunk, a.n - t0);
    xb.resize(size_t(nt * ldx));
    for (int64_t t = 0; t < nt; ++t) {
      const float* src = a.x + (t0 + t) * w.cols;
      uint16_t* dst = xb.data() + t * ldx;
      for (int64_t c = 0; c < ldx; c += 32) {
        const __m512 lo = _mm512_maskz_loadu_ps(__mmask16(lanes32(w.cols - c)), src + c);
        const __m512 hi = _mm512_maskz_loadu_ps(__mmask16(lanes32(w.cols - c - 16)), src + c + 16);
        _mm512_storeu_si512(dst + c, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
      }
    }
    for (int64_t p = row_begin; p < row_end; p += kRowGroup) {
      const int64_t rows = std::min<int64_t>(kRowGroup, row_end - p);
      tiles(xb.data(), ldx, nt, w.cols, w.row(p), w.row_bytes, rows, a.y + t0 * w.rows + p, w.rows);
    }
  }
}

}  // namespace strata
