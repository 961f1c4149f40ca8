#pragma once
// A GEMM's arithmetic, for the op profile: its dispatch points count each
// call by the instructions its numeric path computes with.
#include <cstdint>

#include "core/work.h"
#include "kernels/solution_registry.h"

namespace strata {

// f32 FMAs, except int8 (w4a8) and bf16 (bf16dot) dot products and fp16
// FMAs (f16fma).
Work gemm_work(NumericPath path);
// Counts a GEMM of n tokens over rows x cols weights on `path` to the op
// profile's open op (nothing while the profile is off).
void count_gemm_work(NumericPath path, int64_t n, int64_t rows, int64_t cols);

}  // namespace strata
