#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_* starts as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <atomic>

#include "kernels/compute_rates.h"

namespace strata {

namespace {
// 12 independent chains: more than the FMA latency times the ports, so the
// loop runs at the ports' throughput.
constexpr int kChains = 12;
std::atomic<int64_t> sink{0};
}  // namespace

double f32_fma_loop_avx512(int64_t rounds) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1.0f + float(i) * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t r = 0; r < rounds; ++r) {
    #pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  sink.store(int64_t(_mm512_reduce_add_ps(s)), std::memory_order_relaxed);
  return double(rounds) * kChains * 16 * 2;
}

double int8_dot_loop_avx512_vnni(int64_t rounds) {
  __m512i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-2);
  for (int64_t r = 0; r < rounds; ++r) {
    #pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], u, s);
  }
  __m512i t = acc[0];
  for (int i = 1; i < kChains; ++i) t = _mm512_add_epi32(t, acc[i]);
  sink.store(_mm512_reduce_add_epi32(t), std::memory_order_relaxed);
  return double(rounds) * kChains * 64 * 2;
}

double bf16_dot_loop_avx512_bf16(int64_t rounds) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i));
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
  for (int64_t r = 0; r < rounds; ++r) {
    #pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  __m512 t = acc[0];
  for (int i = 1; i < kChains; ++i) t = _mm512_add_ps(t, acc[i]);
  sink.store(int64_t(_mm512_reduce_add_ps(t)), std::memory_order_relaxed);
  return double(rounds) * kChains * 32 * 2;
}

}  // namespace strata
