#pragma once
// y[n, rows] = x[n, cols] · W^T for a weight matrix W[rows, cols] kept in its
// stored dtype (F32, BF16, F16, Q8_0, Q4_0), re-laid as INT4 g32 (then the
// gemm_w4a16_g32 solutions run, see int4_gemm.h), or FP8 with 128 x 128
// block scales (the gemm_fp8_e4m3_block128 solutions, see fp8_gemm.h).
// Each stored dtype is its own kernel definition (gemm_f32, gemm_f16,
// gemm_bf16, gemm_q8_0, gemm_q4_0; gemm_bf16's layer shapes are in the
// dataset as gemm_f32_bf16_n*_k*), whose solutions are the same per-ISA functions.
// gemm_bf16 has two numeric paths (STRATA_MATMUL_PATH, see
// solution_registry.cpp):
//   exact:   activations stay f32; weights are widened to f32 in registers
//            (on AVX-512 from a copy re-laid at load, see bf16_panels.h);
//   bf16dot: activations are rounded to bf16 once per call and multiplied
//            with vdpbf16ps (AVX512-BF16), as llama.cpp does for BF16
//            weights and as GPU engines run BF16 models;
//   f16fma:  weights (re-laid at load, see f16_panels.h) and activations
//            scaled by powers of two and rounded to fp16, multiplied with
//            AVX512-FP16 FMAs, summed in fp16 over 32 products per lane
//            and in f32 beyond (matmul_f16fma_avx512fp16.cpp).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>

#include "core/dtype.h"
#include "kernels/solution_registry.h"

namespace strata {

struct TensorView;
class Bf16Panels;
class F16Panels;
class Fp8Matrix;
class Int4Matrix;

// A [rows, cols] weight matrix as stored; row r starts at data + r * row_bytes.
struct WeightMatrix {
  DType dtype = DType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0, cols = 0;
  size_t row_bytes = 0;
  // Set for INT4 g32 weights re-laid at load (data is then unused); the
  // owner of the Int4Matrix outlives this view.
  const Int4Matrix* int4 = nullptr;
  // Set for FP8 block-scaled weights (data is then unused); likewise owned elsewhere.
  const Fp8Matrix* fp8 = nullptr;
  // Set for BF16 weights also re-laid at load for the AVX-512 exact
  // solution (see bf16_panels.h); data stays valid for the others, and a
  // view of other rows must drop it (with_rows does).
  const Bf16Panels* panels = nullptr;
  // Set for BF16 weights re-laid at load as fp16 for the f16fma solution
  // (see f16_panels.h); likewise dropped by with_rows.
  const F16Panels* f16_panels = nullptr;

  // A 2-D tensor (or one [rows, cols] slice of a stacked 3-D tensor).
  static WeightMatrix from(const TensorView& t);
  static WeightMatrix slice(const TensorView& stacked, int64_t index);
  static WeightMatrix of(const Int4Matrix& m);
  static WeightMatrix of(const Fp8Matrix& m);
  const uint8_t* row(int64_t r) const { return data + size_t(r) * row_bytes; }
  // Rows [first, first + count) as a matrix of their own.
  WeightMatrix with_rows(int64_t first, int64_t count) const;
  // Bytes the kernels read (INT4: the re-laid matrix with its scales;
  // FP8: codes and scales; BF16 with panels: the panels, fp16 ones first).
  size_t stored_bytes() const;
};

// The copy of BF16 weights a gemm_bf16 solution reads: the stored rows, or
// one re-laid at load.
enum class Bf16Layout { Rows, Bf16Panels, F16Panels };
// The copies matmul may read for a [rows, cols] BF16 matrix (the
// selection's, and a kernel table's choices for that shape), so the ones
// worth re-laying at load.
struct Bf16Layouts {
  bool bf16_panels = false, f16_panels = false;
};
Bf16Layouts matmul_bf16_layouts(int64_t rows, int64_t cols);

// Whether matmul accepts this dtype with this many columns (block types need
// whole blocks of 32).
bool matmul_supports(DType dtype, int64_t cols);

// Activations rounded to fp16 for the f16fma path: row t holds x_t times
// 2^shift_t (its largest magnitude in [256, 512)), zero-padded to ld.
struct F16Activations {
  const uint16_t* h = nullptr;     // [n, ld]
  const float* unscale = nullptr;  // [n]: 2^-shift_t
  int64_t ld = 0;
};
// Converts n rows of `cols` activations, across the global pool for a
// prompt's worth; the buffers are the calling thread's, valid until its
// next call.
F16Activations f16_activations(const float* x, int64_t n, int64_t cols);

struct MatmulArgs {
  const float* x;  // [n, w.cols]
  int64_t n;
  WeightMatrix w;
  float* y;        // [n, w.rows]
  // x already converted for the f16fma solution (which converts x itself
  // when unset): one conversion for all threads of a parallel call.
  const F16Activations* f16 = nullptr;
};
// Computes output columns [row_begin, row_end) of y on the calling thread.
using MatmulFn = void (*)(const MatmulArgs& args, int64_t row_begin, int64_t row_end);
inline constexpr KernelDefinition<MatmulFn> kGemmF32{"gemm_f32"};
inline constexpr KernelDefinition<MatmulFn> kGemmF16{"gemm_f16"};
inline constexpr KernelDefinition<MatmulFn> kGemmBf16{"gemm_bf16"};
inline constexpr KernelDefinition<MatmulFn> kGemmQ8_0{"gemm_q8_0"};
inline constexpr KernelDefinition<MatmulFn> kGemmQ4_0{"gemm_q4_0"};
// The definition of weights stored as `dtype` (one matmul_supports accepts).
KernelDefinition<MatmulFn> gemm_definition(DType dtype);
// The copy of the weights this gemm_bf16 solution reads: Bf16Panels (the
// AVX-512 exact one), F16Panels (f16fma), or the rows (the others).
Bf16Layout bf16_layout_of(MatmulFn solution);
// A BF16 matrix's re-laid copies, for matrices made outside a model's load
// (benchmarks, the workbench): relay_for(solution, w) makes the copy that
// solution reads, as a model does at load, and points w at it.
struct Bf16Copies {
  std::shared_ptr<const Bf16Panels> bf16;
  std::shared_ptr<const F16Panels> f16;
};
Bf16Copies relay_for(MatmulFn solution, WeightMatrix& w);

// The selected solution of the weights' definition, with output rows split
// across the global thread pool.
void matmul(const float* x, int64_t n, const WeightMatrix& w, float* y);
// The same on the calling thread only (for callers that already run in
// parallel, e.g. one expert per thread).
void matmul_serial(const float* x, int64_t n, const WeightMatrix& w, float* y);
// Output rows [row_begin, row_end) only, on the calling thread; row_begin and
// row_end must be multiples of kMatmulRowAlign (or row_end == w.rows). All
// three reach the solution through one dispatch point per definition
// (matmul.cpp, int4_gemm.cpp, fp8_gemm.cpp).
constexpr int64_t kMatmulRowAlign = 16;
void matmul_rows(const float* x, int64_t n, const WeightMatrix& w, float* y, int64_t row_begin, int64_t row_end);

// Several weight matrices applied to the same input (a layer's q, k and v
// projections): for decode-sized n (up to kSharedInputMaxTokens) one
// parallel pass over all their rows, so one fork-join instead of one per
// matrix and each thread's share one stream; per matrix otherwise. Results
// are matmul's, row for row.
struct MatmulOutput {
  const WeightMatrix* w;
  float* y;  // [n, w->rows]
};
constexpr int64_t kSharedInputMaxTokens = 8;
void matmul_shared_input(const float* x, int64_t n, std::initializer_list<MatmulOutput> outputs);

// Decodes one stored row of `cols` weights to f32.
void dequantize_row(DType dtype, const uint8_t* src, int64_t cols, float* dst);

// Solutions: per-ISA entry points, defined in matmul_<isa>.cpp.
void matmul_scalar(const MatmulArgs& args, int64_t row_begin, int64_t row_end);
void matmul_avx2(const MatmulArgs& args, int64_t row_begin, int64_t row_end);
void matmul_avx512(const MatmulArgs& args, int64_t row_begin, int64_t row_end);
// matmul_avx512's BF16 case: the outer-product kernel over Bf16Panels.
void matmul_bf16_avx512(const MatmulArgs& args, int64_t row_begin, int64_t row_end);
// gemm_bf16 on the bf16dot path: activations rounded to bf16 (vdpbf16ps);
// other dtypes, and CPUs without AVX512-BF16, run matmul_avx512.
void matmul_bf16dot(const MatmulArgs& args, int64_t row_begin, int64_t row_end);
// gemm_bf16 on the f16fma path (AVX512-FP16); other dtypes run matmul_avx512.
void matmul_f16fma(const MatmulArgs& args, int64_t row_begin, int64_t row_end);

}  // namespace strata
