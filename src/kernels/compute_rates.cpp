#include "kernels/compute_rates.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu_isa.h"
#include "kernels/solution_registry.h"

namespace strata {

namespace {
// Keeps the scalar loop's result observable.
std::atomic<double> sink{0};
}  // namespace

// Eight independent chains of scalar multiply-adds, as the scalar kernels
// compute (baseline x86-64 has no FMA instruction).
double f32_fma_loop_scalar(int64_t rounds) {
  float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  for (int64_t i = 0; i < rounds; ++i)
    for (float& v : a) v = v * 0.999999f + 1e-7f;
  sink.store(a[0] + a[7], std::memory_order_relaxed);
  return 16.0 * double(rounds);
}

namespace {

using Loop = double (*)(int64_t rounds);

// Ops per second of `loop` over every pool thread: the median of `repeats`.
double rate_of(Loop loop, int repeats) {
  ThreadPool& pool = ThreadPool::global();
  // A few ms per thread on current cores; a slower core only takes longer.
  constexpr int64_t kRounds = 1 << 20;
  std::vector<double> rates;
  for (int r = 0; r < std::max(repeats, 1); ++r) {
    std::atomic<double> ops{0};
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(pool.size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        ops.fetch_add(loop(kRounds));
      }
    });
    rates.push_back(ops.load() / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace

ComputeRates measure_compute_rates(int repeats) {
  const Isa isa = max_isa();
  ComputeRates r;
  auto set = [&](Work kind, Loop loop) { r.ops_per_second[size_t(kind)] = rate_of(loop, repeats); };
  set(Work::F32Fma, isa >= Isa::Avx512 ? f32_fma_loop_avx512 : isa >= Isa::Avx2 ? f32_fma_loop_avx2 : f32_fma_loop_scalar);
  if (isa >= Isa::Avx512 && cpu_has({.vnni = true})) {
    set(Work::Int8Dot, int8_dot_loop_avx512_vnni);
  } else if (isa >= Isa::Avx2) {
    set(Work::Int8Dot, int8_dot_loop_avx2);
  }
  if (isa >= Isa::Avx512 && cpu_has({.bf16 = true})) set(Work::Bf16Dot, bf16_dot_loop_avx512_bf16);
  if (isa >= Isa::Avx512 && cpu_has({.fp16 = true})) set(Work::F16Fma, f16_fma_loop_avx512fp16);
  return r;
}

double compute_limit_seconds(const WorkOps& ops, const ComputeRates& rates) {
  double seconds = 0;
  for (size_t k = 0; k < ops.size(); ++k) {
    if (rates.ops_per_second[k] > 0) seconds += ops[k] / rates.ops_per_second[k];
  }
  return seconds;
}

bool bf16_dot_pays(double bf16_dot_ops_per_second, double f32_fma_ops_per_second) {
  return bf16_dot_ops_per_second > f32_fma_ops_per_second;
}

namespace {

// The best of three alternating runs of each loop on the calling thread,
// not the pool's (rate_of): the registry that asks may be first used
// inside a pool task. A run that another process interrupted only gets
// slower.
std::pair<double, double> best_rates(Loop loop, Loop baseline) {
  constexpr int64_t kRounds = 1 << 17;
  auto rate = [](Loop l) {
    const auto t0 = std::chrono::steady_clock::now();
    const double ops = l(kRounds);
    return ops / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  double a = 0, b = 0;
  for (int i = 0; i < 3; ++i) {
    b = std::max(b, rate(baseline));
    a = std::max(a, rate(loop));
  }
  return {a, b};
}

}  // namespace

bool bf16_dot_pays_here() {
  static const bool pays = [] {
    if (!isa_supported(Isa::Avx512) || !cpu_has({.bf16 = true})) return false;
    const auto [dot, fma] = best_rates(bf16_dot_loop_avx512_bf16, f32_fma_loop_avx512);
    return bf16_dot_pays(dot, fma);
  }();
  return pays;
}

bool f16_fma_pays(double f16_fma_ops_per_second, double f32_fma_ops_per_second) {
  return f16_fma_ops_per_second >= 1.25 * f32_fma_ops_per_second && f16_fma_ops_per_second > 0;
}

bool f16_fma_pays_here() {
  static const bool pays = [] {
    if (!isa_supported(Isa::Avx512) || !cpu_has({.fp16 = true})) return false;
    const auto [f16, f32] = best_rates(f16_fma_loop_avx512fp16, f32_fma_loop_avx512);
    return f16_fma_pays(f16, f32);
  }();
  return pays;
}

}  // namespace strata
