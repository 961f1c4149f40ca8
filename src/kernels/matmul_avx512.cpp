// AVX-512 matmul of F32, F16, Q8_0 and Q4_0 weights (BF16 weights have
// their own kernel, matmul_bf16_avx512.cpp). Columns go in steps of 32 (one
// quant block = two zmm).
// The micro-kernel computes a tile of T tokens x R output rows with T*R zmm
// accumulators: each weight vector is decoded once and used for T tokens,
// each activation vector is loaded once and used for R rows.
// For several tokens, rows go in groups of kRowGroup: each token tile
// takes the whole group, a column block at a time, before the next tile. For
// a block type the group is first decoded to an f32 panel, so decoding is
// paid once per row, not once per token tile. Tokens go in chunks whose
// activations stay in the L3 cache: without that, a long prompt (thousands
// of rows) streams its whole activation matrix from DRAM once per group.
// Decoded values and summation order are the same on all paths, so a row's
// result does not depend on the batch it is in.
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
#include "kernels/weight_blocks.h"

namespace strata {
namespace {

constexpr int kTileTokens = 4, kTileRows = 4;
// Columns per block of a several-token GEMM: a 6-token tile's activations
// of one block take 12 KiB of the 48 KiB L1.
constexpr int64_t kColumnBlock = 512;
// Rows that take each token tile in turn: the chunk's activations stream in
// from L3 once per group. Against groups of 16 without column blocks, on one
// thread (bench_kernels, 512 x 2048 x 4096): Q8_0 1.29x the GFLOP/s (its
// f32 panel, 512 KiB at 2048 columns, still fits L2), and BF16 1.22x when
// its weights ran here. (Column blocks alone measured slower; activations
// packed per token tile measured the same.)
constexpr int64_t kRowGroup = 64;
// Tokens per tile of a plain-type GEMM: 6 x 4 accumulators, the 4 rows'
// weights of one 16-column half and one activation vector fill 29 of the 32
// registers. Each widened weight vector then feeds 6 FMAs instead of 4
// (F16: 1 conversion uop per 3 FMAs, not per 2).
constexpr int kWideTileTokens = 6;
// f32 activations per token chunk: 512 tokens of 2048, a share of the L3.
// (Smaller chunks that fit in L2 measured slower: more panel decodes.)
constexpr int64_t kChunkBytes = 4 << 20;

inline float load_scale(const uint8_t* block) {
  uint16_t d;
  std::memcpy(&d, block, 2);
  return _cvtsh_ss(d);
}

// Each loader decodes the 32 weights of columns [c, c + 32) of one row; the
// masks cover a partial last step (plain types only; block types never have one).
// kPanel: whether GEMMs of 4+ tokens first decode their rows into an f32 panel
// that every token then reads (block types, whose decoding costs more than
// the FMAs it feeds), or widen rows in registers as they go (plain types:
// on an Intel Xeon, when BF16 weights ran here, BF16 prompt 512 ran 1.28x
// faster without the panel and a 4-sequence decode step's BF16 LM head
// 1.5x, since the panel's f32 rows come back from L2 at twice the bytes).
// The plain types also load one 16-column half (load_half), which the
// several-token tile uses to keep fewer weight vectors live.
struct LoadF32 {
  static constexpr int64_t kBytesPer32 = 128;  // stored bytes of 32 columns
  static constexpr bool kPanel = false;
  static __m512 load_half(const uint8_t* row, int64_t c, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + c);
  }
  static void load(const uint8_t* row, int64_t c, __mmask16 mlo, __mmask16 mhi, __m512& lo, __m512& hi) {
    lo = load_half(row, c, mlo);
    hi = load_half(row, c + 16, mhi);
  }
};
struct LoadF16 {
  static constexpr int64_t kBytesPer32 = 64;
  static constexpr bool kPanel = false;
  static __m512 load_half(const uint8_t* row, int64_t c, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(row) + c));
  }
  static void load(const uint8_t* row, int64_t c, __mmask16 mlo, __mmask16 mhi, __m512& lo, __m512& hi) {
    lo = load_half(row, c, mlo);
    hi = load_half(row, c + 16, mhi);
  }
};

// Whether a loader has load_half; its GEMMs then take kWideTileTokens
// tokens per tile.
template <class L>
constexpr bool loads_halves() {
  return requires(const uint8_t* row) { L::load_half(row, 0, __mmask16(0)); };
}
struct LoadQ8_0 {
  static constexpr int64_t kBytesPer32 = kQ8_0BlockBytes;
  static constexpr bool kPanel = true;
  static void load(const uint8_t* row, int64_t c, __mmask16, __mmask16, __m512& lo, __m512& hi) {
    const uint8_t* block = row + (c / kQuantBlock) * kQ8_0BlockBytes;
    const __m512 d = _mm512_set1_ps(load_scale(block));
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
    lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))));
    hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))));
  }
};
struct LoadQ4_0 {
  static constexpr int64_t kBytesPer32 = kQ4_0BlockBytes;
  static constexpr bool kPanel = true;
  static void load(const uint8_t* row, int64_t c, __mmask16, __mmask16, __m512& lo, __m512& hi) {
    const uint8_t* block = row + (c / kQuantBlock) * kQ4_0BlockBytes;
    const __m512 d = _mm512_set1_ps(load_scale(block));
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
    const __m128i nib = _mm_set1_epi8(0x0f);
    const __m512i eight = _mm512_set1_epi32(8);
    const __m512i qlo = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(bytes, nib)), eight);
    const __m512i qhi = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), nib)), eight);
    lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(qlo));
    hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(qhi));
  }
};

inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }

// y[t * ldy + r] = sum_c x[t * ldx + c] * w_r[c] for t < T, r < R, over
// the columns [c_begin, c_end) of `cols`. A tile that spans several column
// blocks keeps its 16-lane sums in `carry` between them (loaded unless
// `first`, stored unless `last`), so every lane adds its columns in the same
// order as one pass over all of them would; the last block reduces to y.
// The fixed-count loops are unrolled so the accumulators stay in registers
// (-O2 does not unroll them by itself).
template <class L, int T, int R>
void tile(const float* x, int64_t ldx, const uint8_t* w, size_t ldw, int64_t c_begin, int64_t c_end, int64_t cols,
          __m512* carry, bool first, bool last, float* y, int64_t ldy) {
  __m512 acc[T][R];
  #pragma GCC unroll 6
  for (int t = 0; t < T; ++t)
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[t][r] = first ? _mm512_setzero_ps() : carry[t * R + r];
  // Several tokens of a plain type, one half at a time: each accumulator
  // still adds its lo product, then its hi product, as below.
  auto half_step = [&](int64_t c, __mmask16 m) __attribute__((always_inline)) {
    if constexpr (loads_halves<L>()) {
      __m512 wv[R];
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) wv[r] = L::load_half(w + r * ldw, c, m);
      #pragma GCC unroll 6
      for (int t = 0; t < T; ++t) {
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * ldx + c);
        #pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[t][r] = _mm512_fmadd_ps(xv, wv[r], acc[t][r]);
      }
    }
  };
  auto step = [&](int64_t c, __mmask16 mlo, __mmask16 mhi) __attribute__((always_inline)) {
    if constexpr (T > 1 && loads_halves<L>()) {
      half_step(c, mlo);
      half_step(c + 16, mhi);
      return;
    }
    __m512 xlo[T], xhi[T];
    #pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      xlo[t] = _mm512_maskz_loadu_ps(mlo, x + t * ldx + c);
      xhi[t] = _mm512_maskz_loadu_ps(mhi, x + t * ldx + c + 16);
    }
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      if constexpr (T == 1) {
        const uint8_t* ahead = w + r * ldw + c / 32 * L::kBytesPer32 + kGemvPrefetchBytes;
        _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      }
      __m512 wlo, whi;
      L::load(w + r * ldw, c, mlo, mhi, wlo, whi);
      #pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        acc[t][r] = _mm512_fmadd_ps(xlo[t], wlo, acc[t][r]);
        acc[t][r] = _mm512_fmadd_ps(xhi[t], whi, acc[t][r]);
      }
    }
  };
  const int64_t full = c_begin + (c_end - c_begin) / 32 * 32;
  for (int64_t c = c_begin; c < full; c += 32) step(c, 0xffff, 0xffff);
  if (full < c_end) step(full, lanes(cols - full), lanes(cols - full - 16));
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

using TileFn = void (*)(const float*, int64_t, const uint8_t*, size_t, int64_t, int64_t, int64_t, __m512*, bool, bool,
                        float*, int64_t);

template <class L, int T>
TileFn pick_rows(int64_t rows) {
  switch (rows) {
    case 1: return tile<L, T, 1>;
    case 2: return tile<L, T, 2>;
    case 3: return tile<L, T, 3>;
    default: return tile<L, T, 4>;
  }
}
template <class L>
TileFn pick_tile(int64_t tokens, int64_t rows) {
  switch (tokens) {
    case 1: return pick_rows<L, 1>(rows);
    case 2: return pick_rows<L, 2>(rows);
    case 3: return pick_rows<L, 3>(rows);
    case 4: return pick_rows<L, 4>(rows);
  }
  if constexpr (loads_halves<L>()) {
    if (tokens == 5) return pick_rows<L, 5>(rows);
    return pick_rows<L, 6>(rows);
  }
  return pick_rows<L, 4>(rows);
}

// All n tokens against `rows` (at most kRowGroup) weight rows starting at w
// (stride ldw bytes), writing y columns [0, rows) with row stride ldy.
template <class L>
void tiles(const float* x, int64_t n, int64_t cols, const uint8_t* w, size_t ldw, int64_t rows, float* y, int64_t ldy) {
  // One token (decode) goes row by row: each thread then reads its weights
  // as one sequential stream, which the hardware prefetchers follow; 4-row
  // tiles interleave 4 streams a row apart (a 4 KiB page for 2048 F16
  // columns). Same sums per row either way. Measured 0.84-0.93x the time on
  // the Qwen3 LM head (BF16, when it ran here).
  if (n == 1) {
    for (int64_t r = 0; r < rows; ++r)
      pick_tile<L>(1, 1)(x, cols, w + r * ldw, ldw, 0, cols, cols, nullptr, true, true, y + r, ldy);
    return;
  }
  constexpr int64_t per_tile = loads_halves<L>() ? kWideTileTokens : kTileTokens;
  alignas(64) __m512 carry[kRowGroup / kTileRows][kWideTileTokens * kTileRows];
  for_each_gemm_tile(n, per_tile, rows, kTileRows, cols, kColumnBlock,
                     [&](int64_t t, int64_t nt, int64_t c0, int64_t c1, int64_t r, int64_t nr) {
                       pick_tile<L>(nt, nr)(x + t * cols, cols, w + r * ldw, ldw, c0, c1, cols, carry[r / kTileRows],
                                            c0 == 0, c1 == cols, y + t * ldy + r, ldy);
                     });
}

template <class L>
void matmul_typed(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  const WeightMatrix& w = a.w;
  const bool decode_panel = L::kPanel && a.n >= kTileTokens;
  thread_local std::vector<float> panel;
  const int64_t stride = (w.cols + 31) / 32 * 32;
  if (decode_panel) panel.resize(size_t(kRowGroup * stride));
  const int64_t chunk =
      std::max<int64_t>(kWideTileTokens, kChunkBytes / (stride * 4) / kWideTileTokens * kWideTileTokens);
  for (int64_t t0 = 0; t0 < a.n; t0 += chunk) {
    const int64_t nt = std::min(chunk, a.n - t0);
    const float* x = a.x + t0 * w.cols;
    float* y = a.y + t0 * w.rows;
    for (int64_t p = row_begin; p < row_end; p += kRowGroup) {
      const int64_t rows = std::min<int64_t>(kRowGroup, row_end - p);
      if (!decode_panel) {
        tiles<L>(x, nt, w.cols, w.row(p), w.row_bytes, rows, y + p, w.rows);
        continue;
      }
      for (int64_t r = 0; r < rows; ++r) {
        float* out = panel.data() + r * stride;
        for (int64_t c = 0; c < w.cols; c += 32) {
          __m512 lo, hi;
          L::load(w.row(p + r), c, lanes(w.cols - c), lanes(w.cols - c - 16), lo, hi);
          _mm512_storeu_ps(out + c, lo);
          _mm512_storeu_ps(out + c + 16, hi);
        }
      }
      tiles<LoadF32>(x, nt, w.cols, reinterpret_cast<const uint8_t*>(panel.data()), size_t(stride) * 4, rows,
                     y + p, w.rows);
    }
  }
}

}  // namespace

void matmul_avx512(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  switch (a.w.dtype) {
    case DType::F32: return matmul_typed<LoadF32>(a, row_begin, row_end);
    case DType::BF16: return matmul_bf16_avx512(a, row_begin, row_end);
    case DType::F16: return matmul_typed<LoadF16>(a, row_begin, row_end);
    case DType::Q8_0: return matmul_typed<LoadQ8_0>(a, row_begin, row_end);
    case DType::Q4_0: return matmul_typed<LoadQ4_0>(a, row_begin, row_end);
    default: return matmul_scalar(a, row_begin, row_end);
  }
}

}  // namespace strata
