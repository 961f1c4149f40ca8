#include <immintrin.h>

#include <atomic>

#include "kernels/compute_rates.h"

namespace strata {

namespace {
constexpr int kChains = 12;  // beyond FMA latency x ports: throughput-bound
std::atomic<int64_t> sink{0};
}  // namespace

double f32_fma_loop_avx2(int64_t rounds) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(1.0f + float(i) * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t r = 0; r < rounds; ++r) {
    #pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  }
  __m256 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  sink.store(int64_t(out[0]), std::memory_order_relaxed);
  return double(rounds) * kChains * 8 * 2;
}

// The AVX2 w4a8 kernels' sequence: vpmaddubsw (u8 x s8 pairs to s16),
// vpmaddwd by ones (to s32), vpaddd: 32 multiplies and 32 adds.
double int8_dot_loop_avx2(int64_t rounds) {
  constexpr int kIntChains = 6;
  __m256i acc[kIntChains];
  for (int i = 0; i < kIntChains; ++i) acc[i] = _mm256_set1_epi32(i);
  __m256i u = _mm256_set1_epi8(3);
  const __m256i s = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  for (int64_t r = 0; r < rounds; ++r) {
    // The products do not depend on the round: keep them in the loop.
    asm volatile("" : "+x"(u));
    #pragma GCC unroll 6
    for (int i = 0; i < kIntChains; ++i) {
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones));
    }
  }
  __m256i t = acc[0];
  for (int i = 1; i < kIntChains; ++i) t = _mm256_add_epi32(t, acc[i]);
  sink.store(_mm256_extract_epi32(t, 0), std::memory_order_relaxed);
  return double(rounds) * kIntChains * 32 * 2;
}

}  // namespace strata
