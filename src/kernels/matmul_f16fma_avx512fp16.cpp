// gemm_bf16's f16fma path: BF16 weights re-laid as scaled fp16 (F16Panels,
// see f16_panels.h) times activations rounded to fp16, with AVX512-FP16
// FMAs: 32 lanes at the f32 FMA's issue rate, so twice its multiplies.
//
// Numerics. Each token's activations are multiplied by the power of two
// 2^shift_t that brings their largest magnitude into [256, 512), then
// rounded to fp16 (11 significant bits: a relative error of at most 2^-11,
// an eighth of bf16dot's rounding to bf16). A lane sums the products of
// kChunkPairs columns in fp16, then adds that sum to an f32 sum, so fp16
// rounding never compounds over more than 32 products, whose sum stays
// below 32 x 2 x 512 = 2^15 (fp16's largest finite value is 65504). Each
// output is the f32 sum of its even and odd columns' lanes times the row's
// and the token's powers of two. On model-shaped data the error is about
// half bf16dot's (test Matmul.F16FmaErrsLessThanBf16Activations).
//
// The same arithmetic serves every batch: a row's sums follow its columns
// in chunks from column 0, whatever the tile, so a token's result does not
// depend on the batch around it.
//
// Blocking: the exact path's outer product (matmul_bf16_avx512.cpp) over
// fp16 word pairs: a tile of T tokens x NP panels keeps T * NP fp16
// accumulators (16 rows x even/odd columns each); each column pair is one
// 64-byte load per panel and one 32-bit broadcast per token (both halves of
// the pair), and needs no widening.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its
// own flow analysis then reports as uninitialised: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/thread_pool.h"
#include "kernels/bf16_panels.h"
#include "kernels/f16_panels.h"
#include "kernels/gemv_prefetch.h"
#include "kernels/matmul.h"

namespace strata {
namespace {

constexpr int64_t kPanelRows = F16Panels::kRows;
// Tokens and panels per tile: 6 x 4 accumulators, four weight vectors and
// a broadcast take 29 of the 32 registers. One token (decode) takes four
// panels' streams at a time too.
constexpr int kTileTokens = 6;
constexpr int kTilePanels = 4;
// Column pairs a lane sums in fp16 before adding to f32 (see above).
constexpr int64_t kChunkPairs = 32;
// fp16 activations per token chunk: each panel group streams the chunk once.
constexpr int64_t kChunkBytes = 2 << 20;
// Each token's activations take the shift that brings their largest
// magnitude into [2^8, 2^9).
constexpr int kActivationExponent = 8;

inline __mmask16 lanes16(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }

// y[t * ldy + 16 p + i] (lanes of mask[p]) for T tokens and NP panels over
// all column pairs; x holds each token's fp16 values (ldx halves apart).
// `ahead`, when given, holds NP panels' lines to bring into L2 while these
// are read: one pair of each (NP lines) every `ahead_stride` pairs, so a
// panel group's tiles fetch the next group's lines between them at the
// pace the compute allows.
template <int T, int NP>
void tile(const uint16_t* x, int64_t ldx, const float* x_unscale, const uint32_t* const* panel,
          const float* const* w_unscale, int64_t pairs, float* y, int64_t ldy, const __mmask16* mask,
          const uint32_t* const* ahead, int64_t ahead_stride) {
  alignas(64) float sum[T][NP][32];  // lanes as the fp16 ones: row i's even, odd columns
  #pragma GCC unroll 12
  for (int t = 0; t < T; ++t)
    #pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) {
      _mm512_store_ps(sum[t][p], _mm512_setzero_ps());
      _mm512_store_ps(sum[t][p] + 16, _mm512_setzero_ps());
    }
  int64_t countdown = 1, fetched = 0;
  for (int64_t j0 = 0; j0 < pairs; j0 += kChunkPairs) {
    const int64_t j1 = std::min(pairs, j0 + kChunkPairs);
    __m512h acc[T][NP];
    #pragma GCC unroll 12
    for (int t = 0; t < T; ++t)
      #pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) acc[t][p] = _mm512_setzero_ph();
    for (int64_t j = j0; j < j1; ++j) {
      if (ahead && --countdown == 0) {
        countdown = ahead_stride;
        #pragma GCC unroll 4
        for (int p = 0; p < NP; ++p)
          _mm_prefetch(reinterpret_cast<const char*>(ahead[p] + fetched * kPanelRows), _MM_HINT_T1);
        ++fetched;
      }
      __m512h wv[NP];
      #pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) {
        const uint32_t* at = panel[p] + j * kPanelRows;
        if constexpr (T == 1) _mm_prefetch(reinterpret_cast<const char*>(at) + kGemvPrefetchBytes, _MM_HINT_T0);
        wv[p] = _mm512_castsi512_ph(_mm512_load_si512(at));
      }
      #pragma GCC unroll 12
      for (int t = 0; t < T; ++t) {
        uint32_t both;
        std::memcpy(&both, x + t * ldx + 2 * j, 4);
        const __m512h xv = _mm512_castsi512_ph(_mm512_set1_epi32(int(both)));
        #pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) acc[t][p] = _mm512_fmadd_ph(xv, wv[p], acc[t][p]);
      }
    }
    #pragma GCC unroll 12
    for (int t = 0; t < T; ++t)
      #pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) {
        const __m512i a = _mm512_castph_si512(acc[t][p]);
        _mm512_store_ps(sum[t][p], _mm512_add_ps(_mm512_load_ps(sum[t][p]), _mm512_cvtph_ps(_mm512_castsi512_si256(a))));
        _mm512_store_ps(sum[t][p] + 16, _mm512_add_ps(_mm512_load_ps(sum[t][p] + 16),
                                                      _mm512_cvtph_ps(_mm512_extracti64x4_epi64(a, 1))));
      }
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  #pragma GCC unroll 12
  for (int t = 0; t < T; ++t) {
    const __m512 xs = _mm512_set1_ps(x_unscale[t]);
    #pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) {
      const __m512 lo = _mm512_load_ps(sum[t][p]), hi = _mm512_load_ps(sum[t][p] + 16);
      const __m512 row_sum =
          _mm512_add_ps(_mm512_permutex2var_ps(lo, even, hi), _mm512_permutex2var_ps(lo, odd, hi));
      const __m512 out = _mm512_mul_ps(_mm512_mul_ps(row_sum, _mm512_load_ps(w_unscale[p])), xs);
      _mm512_mask_storeu_ps(y + t * ldy + p * kPanelRows, mask[p], out);
    }
  }
}

using TileFn = void (*)(const uint16_t*, int64_t, const float*, const uint32_t* const*, const float* const*, int64_t,
                        float*, int64_t, const __mmask16*, const uint32_t* const*, int64_t);

template <int NP, int... T>
TileFn pick_tokens(int tokens, std::integer_sequence<int, T...>) {
  TileFn fn = nullptr;
  ((tokens == T + 1 ? (fn = tile<T + 1, NP>, true) : false) || ...);
  return fn;
}
TileFn pick_tile(int tokens, int panels) {
  const auto all = std::make_integer_sequence<int, kTileTokens>{};
  switch (panels) {
    case 1: return pick_tokens<1>(tokens, all);
    case 2: return pick_tokens<2>(tokens, all);
    case 3: return pick_tokens<3>(tokens, all);
    default: return pick_tokens<4>(tokens, all);
  }
}

// Token t's activations as fp16 at dst (ld halves, zero past cols), and its 2^-shift.
void convert_token(const float* x, int64_t cols, int64_t ld, uint16_t* dst, float* unscale) {
  const __m512 magnitude = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  __m512 largest = _mm512_setzero_ps();
  for (int64_t c = 0; c < cols; c += 16)
    largest = _mm512_max_ps(largest, _mm512_and_ps(_mm512_maskz_loadu_ps(lanes16(cols - c), x + c), magnitude));
  const float top = _mm512_reduce_max_ps(largest);
  int shift = 0;
  if (top > 0 && std::isfinite(top)) {
    int exponent = 0;  // top = f * 2^exponent, f in [0.5, 1)
    std::frexp(top, &exponent);
    shift = std::clamp(kActivationExponent + 1 - exponent, -126, 126);
  }
  *unscale = std::ldexp(1.0f, -shift);
  const __m512 factor = _mm512_set1_ps(std::ldexp(1.0f, shift));
  for (int64_t c = 0; c < ld; c += 16) {
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes16(cols - c), x + c), factor);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + c), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
}

// Halves per converted token: whole 16-value stores, and pairs.
int64_t converted_stride(int64_t cols) { return (cols + 31) / 32 * 32; }

}  // namespace

F16Activations f16_activations(const float* x, int64_t n, int64_t cols) {
  thread_local std::vector<uint16_t> halves;
  thread_local std::vector<float> unscales;
  const int64_t ld = converted_stride(cols);
  halves.resize(size_t(n * ld));
  unscales.resize(size_t(n));
  // The caller's buffers, written by the pool's threads.
  uint16_t* h = halves.data();
  float* u = unscales.data();
  auto convert = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) convert_token(x + t * cols, cols, ld, h + t * ld, u + t);
  };
  if (n >= 16) {
    ThreadPool::global().parallel_for(n, convert);
  } else {
    convert(0, n);
  }
  return {h, u, ld};
}

void matmul_f16fma(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  const WeightMatrix& w = a.w;
  if (w.dtype != DType::BF16) return matmul_avx512(a, row_begin, row_end);
  check(!w.f16_panels || (w.f16_panels->rows() == w.rows && w.f16_panels->cols() == w.cols),
        "f16 panels are their matrix's", "panels [{}, {}] for a [{}, {}] matrix", w.f16_panels ? w.f16_panels->rows() : 0,
        w.f16_panels ? w.f16_panels->cols() : 0, w.rows, w.cols);
  // Activations converted by the caller (once for all threads), or here.
  thread_local std::vector<uint16_t> own_halves;
  thread_local std::vector<float> own_unscales;
  F16Activations xh;
  if (a.f16) {
    xh = *a.f16;
  } else {
    xh.ld = converted_stride(w.cols);
    own_halves.resize(size_t(a.n * xh.ld));
    own_unscales.resize(size_t(a.n));
    for (int64_t t = 0; t < a.n; ++t)
      convert_token(a.x + t * w.cols, w.cols, xh.ld, own_halves.data() + t * xh.ld, own_unscales.data() + t);
    xh.h = own_halves.data();
    xh.unscale = own_unscales.data();
  }
  const int64_t pairs = (w.cols + 1) / 2;
  struct alignas(64) Line {
    uint32_t words[kPanelRows];
  };
  struct alignas(64) Factors {
    float rows[kPanelRows];
  };
  thread_local std::vector<Line> relayed;  // `pairs` lines per panel
  thread_local std::vector<Factors> relayed_factors;
  // Panels [p, p + count) and their row factors: the re-laid copy's, or re-laid now.
  auto panels_at = [&](int64_t p, int count, const uint32_t** out, const float** unscale) {
    if (w.f16_panels) {
      for (int i = 0; i < count; ++i) {
        out[i] = w.f16_panels->panel(p + i);
        unscale[i] = w.f16_panels->unscale(p + i);
      }
      return;
    }
    relayed.resize(size_t(kTilePanels * pairs));
    relayed_factors.resize(kTilePanels);
    for (int i = 0; i < count; ++i) {
      uint32_t* dst = relayed[size_t(i * pairs)].words;
      float* factors = relayed_factors[size_t(i)].rows;
      relay_f16_panel_avx512(w.data, w.row_bytes, w.rows, w.cols, (p + i) * kPanelRows, dst, factors);
      out[i] = dst;
      unscale[i] = factors;
    }
  };
  const int64_t p_begin = row_begin / kPanelRows, p_end = (row_end + kPanelRows - 1) / kPanelRows;
  const int64_t chunk = std::max<int64_t>(kTileTokens, kChunkBytes / (xh.ld * 2) / kTileTokens * kTileTokens);
  const uint32_t* panel[kTilePanels];
  const float* unscale[kTilePanels];
  __mmask16 mask[kTilePanels];
  for (int64_t t0 = 0; t0 < a.n; t0 += chunk) {
    const int64_t chunk_end = std::min(a.n, t0 + chunk);
    for (int64_t p = p_begin; p < p_end; p += kTilePanels) {
      const int count = int(std::min<int64_t>(kTilePanels, p_end - p));
      panels_at(p, count, panel, unscale);
      for (int i = 0; i < count; ++i) mask[i] = panel_row_lanes(p + i, row_begin, row_end);
      // The tiles of the first token chunk bring the next group's panels
      // into L2 between them, each its share (a MoE layer's experts are
      // cold: each is read once per step).
      const int64_t m = chunk_end - t0, tiles = (m + kTileTokens - 1) / kTileTokens;
      const bool fetch = w.f16_panels && a.n > 1 && t0 == 0 && p + 2 * kTilePanels <= p_end;
      const int64_t share = (pairs + tiles - 1) / tiles;  // pairs of the next group per tile
      const uint32_t* next[kTilePanels];
      // Tiles of nearly equal size (32 tokens: 6, 6, 5, 5, 5, 5).
      for (int64_t i = 0, t = t0; i < tiles; ++i) {
        const int tokens = int(m / tiles + (i < m % tiles));
        const int64_t first_pair = std::min(pairs, i * share);
        for (int k = 0; fetch && k < kTilePanels; ++k)
          next[k] = w.f16_panels->panel(p + kTilePanels + k) + first_pair * kPanelRows;
        const int64_t fetched = std::min(pairs, first_pair + share) - first_pair;
        pick_tile(tokens, count)(xh.h + t * xh.ld, xh.ld, xh.unscale + t, panel, unscale, pairs,
                                 a.y + t * w.rows + p * kPanelRows, w.rows, mask, fetch && fetched > 0 ? next : nullptr,
                                 fetched > 0 ? (pairs + fetched - 1) / fetched : 0);
        t += tokens;
      }
    }
  }
}

}  // namespace strata
