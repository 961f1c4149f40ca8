#include "kernels/read_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "core/thread_pool.h"
#include "kernels/cpu_isa.h"

namespace strata {

namespace {

float sum_floats_scalar(const float* p, size_t n) {
  float a[8] = {};
  for (size_t i = 0; i < n; i += 8)
    for (size_t j = 0; j < 8; ++j) a[j] += p[i + j];
  return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

// Keeps the sums observable so the reads are not optimised away.
std::atomic<float> sink{0};

}  // namespace

float sum_floats(const float* p, size_t n) {
  static const bool avx512 = isa_supported(Isa::Avx512);
  return avx512 ? sum_floats_avx512(p, n) : sum_floats_scalar(p, n);
}

ColdReader::ColdReader(size_t ring_bytes) : ring_(std::max<size_t>(ring_bytes / sizeof(float) / 64, 1) * 64, 1.0f) {}

double ColdReader::read_seconds(size_t bytes) {
  const size_t n = std::clamp<size_t>(bytes / sizeof(float) / 64 * 64, 64, ring_.size());
  if (pos_ + n > ring_.size()) pos_ = 0;
  const float* base = ring_.data() + pos_;
  const auto t0 = std::chrono::steady_clock::now();
  ThreadPool::global().parallel_for(int64_t(n / 64), [&](int64_t b, int64_t e) {
    sink.store(sum_floats(base + b * 64, size_t(e - b) * 64), std::memory_order_relaxed);
  });
  pos_ += n;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double ColdReader::gb_per_s(size_t bytes, int repeats) {
  std::vector<double> s;
  for (int i = 0; i < repeats; ++i) s.push_back(read_seconds(bytes));
  std::sort(s.begin(), s.end());
  const size_t read = std::min(bytes / sizeof(float) / 64 * 64, ring_.size()) * sizeof(float);
  return double(read) / s[s.size() / 2] / 1e9;
}

}  // namespace strata
