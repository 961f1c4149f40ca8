#pragma once
// y[n, rows] = x[n, cols] · W^T for INT4 g32 weights in the Int4Matrix
// layout: the kernel definition "gemm_w4a16_g32" (per shape in the dataset:
// kernels/definitions/gemm/gemm_w4a16_g32_n*_k*.json). Its solutions follow one of two
// numeric paths:
//   exact: W4A16 proper, activations stay f32 and weights are decoded to f32
//          in registers;
//   w4a8:  activations are quantized per group of 32 to int8 on the fly and
//          multiplied with integer dot products (AVX-512 VNNI, or AVX2
//          vpmaddubsw), as llama.cpp does for Q4_0 x Q8_0: faster, slightly
//          less exact. Its solutions give bit-identical results.
// Within a path, every solution computes each group's dot product and then
// scales it, and a row's result does not depend on the batch it is in.
#include <cstdint>

#include "kernels/solution_registry.h"

namespace strata {

class Int4Matrix;

// W4A8 activation quantization of one token, as llama.cpp's Q8_0: per group
// of 32, q = round(x * 127 / max|x|) and d = max|x| / 127 rounded to f16 (the
// Q8_0 block's scale type); also sum(q) per group.
void quantize_activations_q8(const float* x, int64_t cols, int8_t* q, float* d, int32_t* qsum);

// Activations of tokens quantized as above: q [tokens][cols], d and qsum
// [tokens][groups]. `token(t)` views the rows from token t on.
struct QuantizedActivations {
  const int8_t* q;
  const float* d;
  const int32_t* qsum;
  int64_t cols, groups;
  QuantizedActivations token(int64_t t) const { return {q + t * cols, d + t * groups, qsum + t * groups, cols, groups}; }
};
using QuantizeActivationsFn = void (*)(const float* x, int64_t cols, int8_t* q, float* d, int32_t* qsum);
// Quantizes n tokens of `cols` activations with `quantize` (an ISA's version
// of quantize_activations_q8) into buffers of the calling thread, valid until
// its next call.
QuantizedActivations quantize_tokens_q8(const float* x, int64_t n, int64_t cols, QuantizeActivationsFn quantize);
void quantize_activations_q8_avx2(const float* x, int64_t cols, int8_t* q, float* d, int32_t* qsum);
void quantize_activations_q8_avx512(const float* x, int64_t cols, int8_t* q, float* d, int32_t* qsum);

struct Int4GemmArgs {
  const float* x;  // [n, w.cols()]
  int64_t n;
  const Int4Matrix* w;
  float* y;        // [n, w.rows()]
  // x already quantized by quantize_activations_q8, or null: w4a8 solutions
  // then read it instead of quantizing x themselves (and x may be null).
  const QuantizedActivations* q8 = nullptr;
};
// Computes the output rows of row tiles [tile_begin, tile_end) (16 rows each)
// on the calling thread.
using Int4GemmFn = void (*)(const Int4GemmArgs& args, int64_t tile_begin, int64_t tile_end);

inline constexpr KernelDefinition<Int4GemmFn> kGemmW4a16G32{"gemm_w4a16_g32"};

// The selected solution (its path: STRATA_INT4_PATH=exact|w4a8, default w4a8
// where it runs, see solution_registry.cpp), row tiles split across the
// global thread pool (a w4a8 call of several tokens quantizes them once
// first); int4_gemm_rows: output rows [row_begin, row_end)
// (multiples of 16 except at the matrix end) on the calling thread only.
// Both go through the definition's one dispatch point (int4_gemm.cpp).
void int4_gemm(const float* x, int64_t n, const Int4Matrix& w, float* y);
void int4_gemm_rows(const float* x, int64_t n, const Int4Matrix& w, float* y, int64_t row_begin,
                    int64_t row_end);

// Callers that feed one input to several matrices (a MoE layer's experts)
// quantize it once: when every call on w's shape runs a w4a8 solution (the
// selection and any kernel-table choice for the shape), int4_gemm_rows_q8
// takes the quantized activations in place of x.
bool int4_gemm_runs_w4a8(const Int4Matrix& w);
// x quantized for int4_gemm_q8 and int4_gemm_rows_q8, tokens split across
// the thread pool, with the fastest ISA's quantizer (all give the same
// results), into the calling thread's buffers (valid until its next call).
// Not from inside a thread-pool task.
QuantizedActivations int4_quantize_input(const float* x, int64_t n, int64_t cols);
void int4_gemm_q8(const QuantizedActivations& x, int64_t n, const Int4Matrix& w, float* y);
void int4_gemm_rows_q8(const QuantizedActivations& x, int64_t n, const Int4Matrix& w, float* y, int64_t row_begin,
                       int64_t row_end);

// Solutions, defined in int4_gemm*.cpp.
void int4_gemm_scalar(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end);
void int4_gemm_avx2(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end);
void int4_gemm_avx512(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end);
void int4_gemm_avx2_w4a8(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end);
void int4_gemm_avx512_vnni_w4a8(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end);

}  // namespace strata
