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

// The AVX2 w4a8 kernels' inner step: two vpmaddubsw (32 u8 x s8 products
// each, summed in pairs) added in 16 bits, then into the running 16-bit sums:
// 64 multiplies and 64 adds per chain and round.
double int8_dot_loop_avx2(int64_t rounds) {
  // Four chains (their only dependency is a 1-cycle add) of their own
  // inputs, which the barrier makes opaque every round so that no product
  // is computed once and reused.
  constexpr int kIntChains = 4;
  __m256i acc[kIntChains], lo[kIntChains], hi[kIntChains];
  for (int i = 0; i < kIntChains; ++i) {
    acc[i] = _mm256_set1_epi16(int16_t(i));
    lo[i] = _mm256_set1_epi8(char(3 + i));
    hi[i] = _mm256_set1_epi8(char(5 + i));
  }
  const __m256i s = _mm256_set1_epi8(-2);
  for (int64_t r = 0; r < rounds; ++r) {
    asm volatile("" : "+x"(lo[0]), "+x"(lo[1]), "+x"(lo[2]), "+x"(lo[3]), "+x"(hi[0]), "+x"(hi[1]), "+x"(hi[2]),
                 "+x"(hi[3]));
    #pragma GCC unroll 4
    for (int i = 0; i < kIntChains; ++i) {
      acc[i] = _mm256_add_epi16(acc[i], _mm256_add_epi16(_mm256_maddubs_epi16(lo[i], s), _mm256_maddubs_epi16(hi[i], s)));
    }
  }
  __m256i t = acc[0];
  for (int i = 1; i < kIntChains; ++i) t = _mm256_add_epi16(t, acc[i]);
  sink.store(_mm256_extract_epi16(t, 0), std::memory_order_relaxed);
  return double(rounds) * kIntChains * 64 * 2;
}

}  // namespace strata
