// AVX-512 solutions of gemm_w4a16_g32 over the Int4Matrix layout. A zmm holds
// one 16-row tile: lane r is row r, so no horizontal sums are needed and the
// tile's 16 scales are one load.
//   exact: a 64-byte chunk gives 8 columns; shifting it by 8b (+4) puts
//          column b's (or b+4's) nibble in the low bits of every lane, and
//          vpermps with a table of -8..7 turns those 4 bits into (q - 8) as
//          f32 (vpermps reads only the low 4 index bits, so no mask is needed).
//   w4a8:  the chunk's low and high nibbles (masked) are 16 rows x 4 unsigned
//          bytes; vpdpbusd multiplies them with 4 int8 activations at once.
// Each kernel instance handles T tokens x NT tiles so that enough independent
// accumulator chains hide the FMA latency when T is small (decode).
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <vector>

#include "core/dtype.h"
#include "kernels/gemv_prefetch.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"

namespace strata {
namespace {

constexpr int kTile = Int4Matrix::kTileRows, kGroup = Int4Matrix::kGroup;
// Tiles handled as one unit of work so their blocks stay in cache while all
// token blocks pass over them.
constexpr int64_t kCacheTiles = 4;
template <Int4ScaleType S>
inline __m512 load_scales(const uint8_t* block) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
  if constexpr (S == Int4ScaleType::F16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

inline __mmask16 row_mask(const Int4Matrix& w, int64_t tile) {
  const int64_t left = w.rows() - tile * kTile;
  return left >= kTile ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

// y[t][tile rows] for T tokens starting at x (row stride ldx) and NT tiles
// starting at `tile`. Dot products per group run in two chains (even and odd
// columns), then are scaled into the row accumulators.
template <Int4ScaleType S, int T, int NT>
void exact_kernel(const Int4Matrix& w, int64_t tile, const float* x, int64_t ldx, float* y, int64_t ldy) {
  const __m512 table = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
  __m512 acc[NT][T];
  #pragma GCC unroll 8
  for (int i = 0; i < NT; ++i)
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_setzero_ps();
  for (int64_t g = 0; g < w.groups(); ++g) {
    __m512 even[NT][T], odd[NT][T];
    #pragma GCC unroll 8
    for (int i = 0; i < NT; ++i)
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) even[i][t] = odd[i][t] = _mm512_setzero_ps();
    const float* xg = x + g * kGroup;
    #pragma GCC unroll 4
    for (int k = 0; k < Int4Matrix::kChunks; ++k) {
      #pragma GCC unroll 8
      for (int i = 0; i < NT; ++i) {
        const __m512i v = _mm512_loadu_si512(w.block(tile + i, g) + Int4Matrix::kScaleBytes + 64 * k);
        #pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
          const int shift = 8 * (j % 4) + 4 * (j / 4);
          const __m512 wv = _mm512_permutexvar_ps(shift ? _mm512_srli_epi32(v, shift) : v, table);
          #pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            const __m512 xv = _mm512_set1_ps(xg[t * ldx + 8 * k + j]);
            if (j % 2 == 0) even[i][t] = _mm512_fmadd_ps(xv, wv, even[i][t]);
            else odd[i][t] = _mm512_fmadd_ps(xv, wv, odd[i][t]);
          }
        }
      }
    }
    #pragma GCC unroll 8
    for (int i = 0; i < NT; ++i) {
      const __m512 scale = load_scales<S>(w.block(tile + i, g));
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) acc[i][t] = _mm512_fmadd_ps(_mm512_add_ps(even[i][t], odd[i][t]), scale, acc[i][t]);
    }
  }
  #pragma GCC unroll 8
  for (int i = 0; i < NT; ++i)
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy + (tile + i) * kTile, row_mask(w, tile + i), acc[i][t]);
}


template <Int4ScaleType S, int T, int NT>
void w4a8_kernel(const Int4Matrix& w, int64_t tile, const QuantizedActivations& x, float* y, int64_t ldy) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  __m512 acc[NT][T];
  #pragma GCC unroll 8
  for (int i = 0; i < NT; ++i)
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_setzero_ps();
  for (int64_t g = 0; g < w.groups(); ++g) {
    __m512i isum[NT][T];
    #pragma GCC unroll 8
    for (int i = 0; i < NT; ++i)
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) isum[i][t] = _mm512_setzero_si512();
    #pragma GCC unroll 4
    for (int k = 0; k < Int4Matrix::kChunks; ++k) {
      #pragma GCC unroll 8
      for (int i = 0; i < NT; ++i) {
        const uint8_t* chunk = w.block(tile + i, g) + Int4Matrix::kScaleBytes + 64 * k;
        if constexpr (T == 1) _mm_prefetch(reinterpret_cast<const char*>(chunk) + kGemvPrefetchBytes, _MM_HINT_T0);
        const __m512i v = _mm512_loadu_si512(chunk);
        const __m512i lo = _mm512_and_si512(v, low4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          // Broadcast from memory (a load, folded into vpdpbusd), not
          // through a general register (a shuffle-port uop per vpdpbusd).
          const int8_t* xq = x.q + t * x.cols + g * kGroup + 8 * k;
          isum[i][t] = _mm512_dpbusd_epi32(isum[i][t], lo, _mm512_broadcastd_epi32(_mm_loadu_si32(xq)));
          isum[i][t] = _mm512_dpbusd_epi32(isum[i][t], hi, _mm512_broadcastd_epi32(_mm_loadu_si32(xq + 4)));
        }
      }
    }
    #pragma GCC unroll 8
    for (int i = 0; i < NT; ++i) {
      const __m512 scale = load_scales<S>(w.block(tile + i, g));
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        // The nibbles are q + 8: take 8 * sum(xq) back out.
        const __m512i dot = _mm512_sub_epi32(isum[i][t], _mm512_set1_epi32(8 * x.qsum[t * x.groups + g]));
        acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(scale, _mm512_set1_ps(x.d[t * x.groups + g])),
                                    acc[i][t]);
      }
    }
  }
  #pragma GCC unroll 8
  for (int i = 0; i < NT; ++i)
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy + (tile + i) * kTile, row_mask(w, tile + i), acc[i][t]);
}

// Tiles per kernel call for T tokens: two up to kPairedT tokens, to keep
// enough independent chains (exact: 2-3 tokens, then one to stay within 32
// registers; w4a8: up to 6, whose integer sums are half the registers of
// its chains and whose activation broadcasts then serve two tiles, measured
// 1.05-1.08x bench_int4's 8-token-by-one-tile kernel at 32 and 512 tokens);
// one for a single token, so a thread reads its tiles as one sequential
// stream the hardware prefetchers follow (four tiles side by side are four
// streams; bench_int4 measured 0.79-0.99 of the read bandwidth against
// 0.68-0.82 for decode-shaped expert GEMVs, the chains of successive groups
// overlapping instead).
template <int kPairedT>
constexpr int tiles_for(int T) { return T == 1 ? 1 : T <= kPairedT ? 2 : 1; }

// Runs fn<T, NT> over tiles [t0, t1) for a token block of T tokens.
template <int T, int kPairedT, class Call>
void over_tiles(int64_t t0, int64_t t1, Call&& call) {
  constexpr int NT = tiles_for<kPairedT>(T);
  int64_t tile = t0;
  for (; tile + NT <= t1; tile += NT) call.template operator()<T, NT>(tile);
  for (; tile < t1; ++tile) call.template operator()<T, 1>(tile);
}

// Dispatches a runtime token count (1..kMaxT) to the compile-time T.
template <int kMaxT, int kPairedT, class Call>
void with_tokens(int64_t nt, int64_t t0, int64_t t1, Call&& call) {
  if constexpr (kMaxT >= 1) {
    if (nt == kMaxT) return over_tiles<kMaxT, kPairedT>(t0, t1, call);
    with_tokens<kMaxT - 1, kPairedT>(nt, t0, t1, call);
  }
}

template <Int4ScaleType S>
void exact(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  constexpr int kMaxT = 6;
  const Int4Matrix& w = *a.w;
  for (int64_t c0 = tile_begin; c0 < tile_end; c0 += kCacheTiles) {
    const int64_t c1 = std::min(tile_end, c0 + kCacheTiles);
    for (int64_t t = 0; t < a.n; t += kMaxT) {
      const float* x = a.x + t * w.cols();
      float* y = a.y + t * w.rows();
      with_tokens<kMaxT, 3>(std::min<int64_t>(kMaxT, a.n - t), c0, c1, [&]<int T, int NT>(int64_t tile) {
        exact_kernel<S, T, NT>(w, tile, x, w.cols(), y, w.rows());
      });
    }
  }
}

// quantize_activations_q8 with the same results, 32 columns per step.
void quantize_activations_q8_avx512(const float* x, int64_t cols, int8_t* q, float* d, int32_t* qsum) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t g = 0; g < cols / kGroup; ++g) {
    const __m512 x0 = _mm512_loadu_ps(x + g * kGroup), x1 = _mm512_loadu_ps(x + g * kGroup + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x0, abs_mask), _mm512_and_ps(x1, abs_mask)));
    const __m512 inv = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    // Round to nearest even, as nearbyint in the default rounding mode.
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, inv)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, inv));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + g * kGroup), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + g * kGroup + 16), _mm512_cvtsepi32_epi8(q1));
    d[g] = f16_to_f32(f32_to_f16(amax / 127.0f));
    qsum[g] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

template <Int4ScaleType S>
void w4a8(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  constexpr int kMaxT = 6;
  const Int4Matrix& w = *a.w;
  const QuantizedActivations xq = quantize_tokens_q8(a.x, a.n, w.cols(), quantize_activations_q8_avx512);
  for (int64_t c0 = tile_begin; c0 < tile_end; c0 += kCacheTiles) {
    const int64_t c1 = std::min(tile_end, c0 + kCacheTiles);
    for (int64_t t = 0; t < a.n; t += kMaxT) {
      const QuantizedActivations x = xq.token(t);
      float* y = a.y + t * w.rows();
      with_tokens<kMaxT, kMaxT>(std::min<int64_t>(kMaxT, a.n - t), c0, c1, [&]<int T, int NT>(int64_t tile) {
        w4a8_kernel<S, T, NT>(w, tile, x, y, w.rows());
      });
    }
  }
}

}  // namespace

void int4_gemm_avx512(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  if (a.w->scale_type() == Int4ScaleType::F16) return exact<Int4ScaleType::F16>(a, tile_begin, tile_end);
  exact<Int4ScaleType::BF16>(a, tile_begin, tile_end);
}

void int4_gemm_avx512_vnni_w4a8(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  if (a.w->scale_type() == Int4ScaleType::F16) return w4a8<Int4ScaleType::F16>(a, tile_begin, tile_end);
  w4a8<Int4ScaleType::BF16>(a, tile_begin, tile_end);
}

}  // namespace strata
