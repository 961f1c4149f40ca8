// AVX-512 variants of the element-wise ops (see ops.h); results agree with
// the scalar references to a few ulp (summation order and exp differ).
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its
// own flow analysis then reports as uninitialised: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cmath>
#include <vector>

#include "kernels/exp_avx512.h"
#include "kernels/ops.h"
#include "kernels/rope_rows.h"

namespace strata {

namespace {
inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }
}  // namespace

void rmsnorm_avx512(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * dim;
    // Sum of squares in double, as the reference.
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int64_t i = 0; i < dim; i += 16) {
      const __m512 v = _mm512_maskz_loadu_ps(lanes(dim - i), xr + i);
      const __m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
      const __m512d b = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
      lo = _mm512_fmadd_pd(a, a, lo);
      hi = _mm512_fmadd_pd(b, b, hi);
    }
    const double sum = _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
    const __m512 scale = _mm512_set1_ps(1.0f / std::sqrt(float(sum / double(dim)) + eps));
    float* yr = y + r * dim;
    for (int64_t i = 0; i < dim; i += 16) {
      const __mmask16 m = lanes(dim - i);
      const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), scale);
      _mm512_mask_storeu_ps(yr + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, weight + i)));
    }
  }
}

// The add row by row, so each row is summed and normed while in cache.
void fused_add_rmsnorm_avx512(const float* delta, float* residual, const float* weight, float* y, int64_t n_rows,
                              int64_t dim, float eps) {
  for (int64_t r = 0; r < n_rows; ++r) {
    float* res = residual + r * dim;
    for (int64_t i = 0; i < dim; i += 16) {
      const __mmask16 m = lanes(dim - i);
      _mm512_mask_storeu_ps(res + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, res + i), _mm512_maskz_loadu_ps(m, delta + r * dim + i)));
    }
    rmsnorm_avx512(res, weight, y + r * dim, 1, dim, eps);
  }
}

// The reference's angles; the compiler may fuse a product and a difference
// into an FMA, so results can differ from it in the last bit.
void rope_neox_avx512(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
                      float theta) {
  const int64_t half = rotary_dim / 2;
  for_each_rope_row(n_rows, rotary_dim, positions, theta, [&](int64_t r, const float* cos_t, const float* sin_t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (r * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; i += 16) {
        const __mmask16 m = lanes(half - i);
        const __m512 a = _mm512_maskz_loadu_ps(m, v + i), b = _mm512_maskz_loadu_ps(m, v + half + i);
        const __m512 c = _mm512_maskz_loadu_ps(m, cos_t + i), s = _mm512_maskz_loadu_ps(m, sin_t + i);
        _mm512_mask_storeu_ps(v + i, m, _mm512_sub_ps(_mm512_mul_ps(a, c), _mm512_mul_ps(b, s)));
        _mm512_mask_storeu_ps(v + half + i, m, _mm512_add_ps(_mm512_mul_ps(a, s), _mm512_mul_ps(b, c)));
      }
    }
  });
}

// Interleaved pairs: with c and s duplicated per pair and the sine signed
// (-s, +s), out = x * c + swap_pairs(x) * s gives (a c - b s, b c + a s).
void rope_gptj_avx512(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim,
                      const int32_t* positions, float theta) {
  std::vector<float> cos2(static_cast<size_t>(rotary_dim)), sin2(static_cast<size_t>(rotary_dim));
  for_each_rope_row(n_rows, rotary_dim, positions, theta, [&](int64_t r, const float* cos_t, const float* sin_t) {
    for (int64_t i = 0; i < rotary_dim / 2; ++i) {
      cos2[size_t(2 * i)] = cos2[size_t(2 * i + 1)] = cos_t[i];
      sin2[size_t(2 * i)] = -sin_t[i];
      sin2[size_t(2 * i + 1)] = sin_t[i];
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (r * n_heads + h) * head_dim;
      for (int64_t i = 0; i < rotary_dim; i += 16) {
        const __mmask16 m = lanes(rotary_dim - i);
        const __m512 a = _mm512_maskz_loadu_ps(m, v + i);
        const __m512 swapped = _mm512_permute_ps(a, 0xB1);  // (b, a) in every pair
        const __m512 c = _mm512_maskz_loadu_ps(m, cos2.data() + i), sn = _mm512_maskz_loadu_ps(m, sin2.data() + i);
        _mm512_mask_storeu_ps(v + i, m, _mm512_add_ps(_mm512_mul_ps(a, c), _mm512_mul_ps(swapped, sn)));
      }
    }
  });
}

void softmax_avx512(float* x, int64_t n) {
  if (n <= 0) return;
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(vmax, lanes(n - i), x + i));
  const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), max)));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
  }
}

void silu_mul_avx512(const float* gate, const float* up, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 sig = _mm512_div_ps(g, _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(sig, _mm512_maskz_loadu_ps(m, up + i)));
  }
}

// Each 16-float slice of a token's row sums its choices in a register, with
// the reference's separate multiply and add: the explicit-rounding forms,
// which GCC does not contract into an FMA as it does _mm512_add_ps of a
// _mm512_mul_ps.
void moe_combine_avx512(const float* y, const int64_t* rows, const float* weights, int64_t n_tokens, int64_t top_k,
                        int64_t h, const float* shared, float* out) {
  constexpr int kRound = _MM_FROUND_CUR_DIRECTION;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t* r = rows + t * top_k;
    const float* w = weights + t * top_k;
    for (int64_t c = 0; c < h; c += 16) {
      const __mmask16 m = lanes(h - c);
      __m512 acc = _mm512_mul_round_ps(_mm512_set1_ps(w[0]), _mm512_maskz_loadu_ps(m, y + r[0] * h + c), kRound);
      for (int64_t j = 1; j < top_k; ++j) {
        const __m512 product = _mm512_mul_round_ps(_mm512_set1_ps(w[j]), _mm512_maskz_loadu_ps(m, y + r[j] * h + c), kRound);
        acc = _mm512_add_round_ps(acc, product, kRound);
      }
      if (shared) acc = _mm512_add_round_ps(acc, _mm512_maskz_loadu_ps(m, shared + t * h + c), kRound);
      _mm512_mask_storeu_ps(out + t * h + c, m, acc);
    }
  }
}

// Per lane, the first largest value and its index (strictly greater wins,
// so NaNs never do); then the largest over lanes, the lowest index among
// lanes holding it, and the tail in order.
int64_t argmax_avx512(const float* x, int64_t n) {
  __m512 best = _mm512_set1_ps(-INFINITY);
  __m512i best_at = _mm512_setzero_si512(), at = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_set1_epi32(16);
  int64_t i = 0;
  for (; i + 16 <= n && i + 16 <= INT32_MAX; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __mmask16 greater = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
    best = _mm512_mask_mov_ps(best, greater, v);
    best_at = _mm512_mask_mov_epi32(best_at, greater, at);
    at = _mm512_add_epi32(at, step);
  }
  const float top = _mm512_reduce_max_ps(best);
  const __mmask16 holders = _mm512_cmp_ps_mask(best, _mm512_set1_ps(top), _CMP_EQ_OQ);
  int64_t result = top > -INFINITY ? _mm512_mask_reduce_min_epi32(holders, best_at) : 0;
  float result_value = top;
  for (; i < n; ++i) {
    if (x[i] > result_value) {
      result_value = x[i];
      result = i;
    }
  }
  return result;
}

}  // namespace strata
