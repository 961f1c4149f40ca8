#pragma once
// How far ahead a single-token GEMV (decode) prefetches its weights. Such a
// GEMV reads its rows as one sequential stream per thread, and prefetching
// this far ahead keeps more DRAM reads in flight than the hardware
// prefetchers do alone: bench_int4 on an Intel Xeon (AVX-512 VNNI), 5
// alternating rounds, W4A8 LM-head shape 0.77 -> 1.00 of the paired read
// bandwidth, 768 x 2048 0.79 -> 0.84; 2 KiB and 8 KiB did no better.
#include <cstdint>

namespace strata {

inline constexpr int64_t kGemvPrefetchBytes = 4096;

}  // namespace strata
