#pragma once
// The machine's read bandwidth from DRAM, measured the way a weight-streaming
// kernel reads: a plain SIMD sum over a ring far larger than the last-level
// cache, split over the global pool's threads. It is the baseline decode is
// held to (bytes read per token / this bandwidth = the fastest a token can
// be). On a shared machine the bandwidth moves from minute to minute, so
// callers pair each measurement with the timing it is compared to.
#include <cstddef>
#include <vector>

namespace strata {

class ColdReader {
 public:
  explicit ColdReader(size_t ring_bytes = size_t(1) << 30);
  // Seconds to read `bytes` (at most the ring) from where the last read ended.
  double read_seconds(size_t bytes);
  // GB/s over `bytes`: the median of `repeats` reads.
  double gb_per_s(size_t bytes, int repeats = 5);

 private:
  std::vector<float> ring_;
  size_t pos_ = 0;
};

// Sum of n floats (n a multiple of 64): the read loop, chosen by CPU features.
float sum_floats(const float* p, size_t n);
float sum_floats_avx512(const float* p, size_t n);

}  // namespace strata
