// The fp16 FMA rate (AVX512-FP16), which gemm_bf16's f16fma path computes at.
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_* starts as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <atomic>

#include "kernels/compute_rates.h"

namespace strata {

namespace {
// As compute_rates_avx512.cpp: more chains than latency times ports.
constexpr int kChains = 12;
std::atomic<int64_t> sink{0};
}  // namespace

double f16_fma_loop_avx512fp16(int64_t rounds) {
  __m512h acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ph(_Float16(1.0f + float(i) * 1e-2f));
  const __m512h m = _mm512_set1_ph(_Float16(0.999f)), c = _mm512_set1_ph(_Float16(1e-3f));
  for (int64_t r = 0; r < rounds; ++r) {
    #pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ph(acc[i], m, c);
  }
  __m512h s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ph(s, acc[i]);
  sink.store(int64_t(float(_mm512_reduce_add_ph(s))), std::memory_order_relaxed);
  return double(rounds) * kChains * 32 * 2;
}

}  // namespace strata
