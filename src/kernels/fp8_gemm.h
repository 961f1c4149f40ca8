#pragma once
// y[n, rows] = x[n, cols] · W^T for FP8 block-scaled weights (Fp8Matrix):
// the kernel definition "gemm_fp8_e4m3_block128" (per shape in the dataset:
// kernels/definitions/gemm/gemm_fp8_e4m3_block128_n*_k*.json). Numerics, the same for
// every solution: each weight is exactly e4m3(code) * block scale rounded
// once to f32, activations stay f32, and each output is an f32 dot product
// of the two. Solutions differ only in summation order; within a solution a
// row's result does not depend on the batch it is in.
#include <cstdint>
#include <string_view>

#include "kernels/solution_registry.h"

namespace strata {

class Fp8Matrix;

struct Fp8GemmArgs {
  const float* x;  // [n, w.cols()]
  int64_t n;
  const Fp8Matrix* w;
  float* y;        // [n, w.rows()]
};
// Computes output rows [row_begin, row_end) on the calling thread.
using Fp8GemmFn = void (*)(const Fp8GemmArgs& args, int64_t row_begin, int64_t row_end);
inline constexpr KernelDefinition<Fp8GemmFn> kGemmFp8E4m3Block128{"gemm_fp8_e4m3_block128"};

// The selected solution, rows split in 16-row blocks over the global thread
// pool; fp8_gemm_rows: output rows [row_begin, row_end) on the calling thread
// only. Both go through the definition's one dispatch point (fp8_gemm.cpp).
void fp8_gemm(const float* x, int64_t n, const Fp8Matrix& w, float* y);
void fp8_gemm_rows(const float* x, int64_t n, const Fp8Matrix& w, float* y, int64_t row_begin, int64_t row_end);

// Solutions: fp8_gemm.cpp (the reference: a row decoded through the e4m3
// table, then plain dot products) and fp8_gemm_avx512.cpp.
void fp8_gemm_scalar(const Fp8GemmArgs& a, int64_t row_begin, int64_t row_end);
void fp8_gemm_avx512(const Fp8GemmArgs& a, int64_t row_begin, int64_t row_end);

}  // namespace strata
