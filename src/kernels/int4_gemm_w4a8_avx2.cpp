// AVX2 solution of gemm_w4a16_g32 on the w4a8 path, for CPUs (or an ISA cap)
// without AVX-512 VNNI. Same numerics as int4_gemm_avx512_vnni_w4a8, so the
// results are bit-identical: activations quantized as Q8_0 (same rounding),
// per row and group an exact integer dot product, then
// acc = fma(float(dot), scale * d, acc) in group order.
// A half tile (8 rows) is one ymm: each 64-byte chunk is two 32-byte halves
// with a 32-bit lane per row, whose bytes hold the unsigned nibbles q + 8 of
// 4 columns (low half) and the next 4 (high half). Without vpdpbusd,
// vpmaddubsw multiplies those nibbles with 4 int8 activations broadcast to
// every lane and sums pairs to int16 (|15 * 127 * 2| = 3810, no saturation);
// the 8 products of a group add up in int16 (at most 8 * 3810 = 30480, still
// exact), and one vpmaddwd with ones then sums each lane's pair to int32.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"

namespace strata {
namespace {

constexpr int kHalfRows = Int4Matrix::kTileRows / 2, kGroup = Int4Matrix::kGroup;
// Half tiles handled as one unit of work so their blocks stay in cache while
// all token blocks pass over them (4 tiles, as the AVX-512 solutions).
constexpr int64_t kCacheHalves = 8;

template <Int4ScaleType S>
inline __m256 load_scales(const uint8_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (S == Int4ScaleType::F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}


inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// y[t][rows of half tiles half .. half + NH) for T tokens.
template <Int4ScaleType S, int T, int NH>
void kernel(const Int4Matrix& w, int64_t half, const QuantizedActivations& x, float* y, int64_t ldy) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  __m256 acc[NH][T];
  #pragma GCC unroll 8
  for (int i = 0; i < NH; ++i)
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[i][t] = _mm256_setzero_ps();
  for (int64_t g = 0; g < w.groups(); ++g) {
    __m256i sum16[NH][T];
    #pragma GCC unroll 8
    for (int i = 0; i < NH; ++i)
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) sum16[i][t] = _mm256_setzero_si256();
    #pragma GCC unroll 4
    for (int k = 0; k < Int4Matrix::kChunks; ++k) {
      #pragma GCC unroll 8
      for (int i = 0; i < NH; ++i) {
        const int64_t h = half + i;
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
            w.block(h / 2, g) + Int4Matrix::kScaleBytes + 64 * k + 32 * (h % 2)));
        const __m256i lo = _mm256_and_si256(v, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const int8_t* xq = x.q + t * x.cols + g * kGroup + 8 * k;
          const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast4(xq)),
                                             _mm256_maddubs_epi16(hi, broadcast4(xq + 4)));
          sum16[i][t] = _mm256_add_epi16(sum16[i][t], p);
        }
      }
    }
    #pragma GCC unroll 8
    for (int i = 0; i < NH; ++i) {
      const int64_t h = half + i;
      const __m256 scale = load_scales<S>(w.block(h / 2, g) + 2 * kHalfRows * (h % 2));
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        // The nibbles are q + 8: take 8 * sum(xq) back out.
        const __m256i dot = _mm256_sub_epi32(_mm256_madd_epi16(sum16[i][t], ones),
                                             _mm256_set1_epi32(8 * x.qsum[t * x.groups + g]));
        acc[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(scale, _mm256_set1_ps(x.d[t * x.groups + g])),
                                    acc[i][t]);
      }
    }
  }
  #pragma GCC unroll 8
  for (int i = 0; i < NH; ++i) {
    const int64_t row0 = (half + i) * kHalfRows, valid = std::min<int64_t>(kHalfRows, w.rows() - row0);
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      if (valid == kHalfRows) {
        _mm256_storeu_ps(y + t * ldy + row0, acc[i][t]);
      } else {
        alignas(32) float out[kHalfRows];
        _mm256_store_ps(out, acc[i][t]);
        std::copy(out, out + valid, y + t * ldy + row0);
      }
    }
  }
}

// Half tiles per kernel call for T tokens: more when few tokens, to keep
// enough independent chains; fewer when many, to stay within 16 registers.
constexpr int halves_for(int T) { return T == 1 ? 4 : T == 2 ? 2 : 1; }

// Runs call<T, NH> over half tiles [h0, h1) for a token block of T tokens.
template <int T, class Call>
void over_halves(int64_t h0, int64_t h1, Call&& call) {
  constexpr int NH = halves_for(T);
  int64_t h = h0;
  for (; h + NH <= h1; h += NH) call.template operator()<T, NH>(h);
  for (; h < h1; ++h) call.template operator()<T, 1>(h);
}

// Dispatches a runtime token count (1..kMaxT) to the compile-time T.
template <int kMaxT, class Call>
void with_tokens(int64_t nt, int64_t h0, int64_t h1, Call&& call) {
  if constexpr (kMaxT >= 1) {
    if (nt == kMaxT) return over_halves<kMaxT>(h0, h1, call);
    with_tokens<kMaxT - 1>(nt, h0, h1, call);
  }
}

template <Int4ScaleType S>
void run(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  constexpr int kMaxT = 4;
  const Int4Matrix& w = *a.w;
  const QuantizedActivations xq = a.q8 ? *a.q8 : quantize_tokens_q8(a.x, a.n, w.cols(), quantize_activations_q8_avx2);
  // The last tile's second half may lie wholly past the last row: skip it.
  const int64_t half_begin = 2 * tile_begin;
  const int64_t half_end = std::min(2 * tile_end, (w.rows() + kHalfRows - 1) / kHalfRows);
  for (int64_t c0 = half_begin; c0 < half_end; c0 += kCacheHalves) {
    const int64_t c1 = std::min(half_end, c0 + kCacheHalves);
    for (int64_t t = 0; t < a.n; t += kMaxT) {
      const QuantizedActivations x = xq.token(t);
      float* y = a.y + t * w.rows();
      with_tokens<kMaxT>(std::min<int64_t>(kMaxT, a.n - t), c0, c1, [&]<int T, int NH>(int64_t half) {
        kernel<S, T, NH>(w, half, x, y, w.rows());
      });
    }
  }
}

}  // namespace

// quantize_activations_q8 with the same results, 32 columns per step.
void quantize_activations_q8_avx2(const float* x, int64_t cols, int8_t* q, float* d, int32_t* qsum) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  // packs interleaves 128-bit lanes; this puts the 8 dwords back in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t g = 0; g < cols / kGroup; ++g) {
    __m256 xv[4];
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      xv[j] = _mm256_loadu_ps(x + g * kGroup + 8 * j);
      m = _mm256_max_ps(m, _mm256_and_ps(xv[j], abs_mask));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const __m256 inv = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    // Round to nearest even, as nearbyint in the default rounding mode.
    __m256i qv[4];
    for (int j = 0; j < 4; ++j) qv[j] = _mm256_cvtps_epi32(_mm256_mul_ps(xv[j], inv));
    const __m256i q16 = _mm256_packs_epi16(_mm256_packs_epi32(qv[0], qv[1]), _mm256_packs_epi32(qv[2], qv[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + g * kGroup), _mm256_permutevar8x32_epi32(q16, order));
    const __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(qv[0], qv[1]), _mm256_add_epi32(qv[2], qv[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
    d[g] = f16_to_f32(f32_to_f16(amax / 127.0f));
    qsum[g] = _mm_cvtsi128_si32(s4);
  }
}

void int4_gemm_avx2_w4a8(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  if (a.w->scale_type() == Int4ScaleType::F16) return run<Int4ScaleType::F16>(a, tile_begin, tile_end);
  run<Int4ScaleType::BF16>(a, tile_begin, tile_end);
}

}  // namespace strata
