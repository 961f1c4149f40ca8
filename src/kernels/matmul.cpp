#include "kernels/matmul.h"

#include <algorithm>
#include <vector>

#include "core/check.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/tensor_source.h"
#include "kernels/bf16_panels.h"
#include "kernels/f16_panels.h"
#include "kernels/fp8_gemm.h"
#include "kernels/fp8_matrix.h"
#include "kernels/gemm_work.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"
#include "kernels/kernel_calls.h"
#include "kernels/shape_choices.h"
#include "kernels/weight_blocks.h"

namespace strata {

WeightMatrix WeightMatrix::from(const TensorView& t) {
  if (t.shape.size() != 2) fail("{}: tensor '{}' is not a matrix: {}", t.file, t.name, t.shape_str());
  WeightMatrix w;
  w.dtype = t.dtype;
  w.data = t.data;
  w.rows = t.shape[0];
  w.cols = t.shape[1];
  if (!matmul_supports(t.dtype, w.cols)) {
    fail("{}: tensor '{}' has dtype {} with {} columns, which matmul does not support", t.file,
         t.name, dtype_name(t.dtype), w.cols);
  }
  w.row_bytes = size_t(dtype_bytes(t.dtype, w.cols));
  return w;
}

WeightMatrix WeightMatrix::slice(const TensorView& stacked, int64_t index) {
  const auto& s = stacked.shape;
  if (s.size() != 3 || index < 0 || index >= s[0]) {
    fail("{}: tensor '{}' {} has no matrix {}", stacked.file, stacked.name, stacked.shape_str(), index);
  }
  WeightMatrix w;
  w.dtype = stacked.dtype;
  w.rows = s[1];
  w.cols = s[2];
  if (!matmul_supports(w.dtype, w.cols)) {
    fail("{}: tensor '{}' has dtype {} with {} columns, which matmul does not support",
         stacked.file, stacked.name, dtype_name(w.dtype), w.cols);
  }
  w.row_bytes = size_t(dtype_bytes(w.dtype, w.cols));
  w.data = stacked.data + size_t(index) * size_t(w.rows) * w.row_bytes;
  return w;
}

WeightMatrix WeightMatrix::of(const Int4Matrix& m) {
  WeightMatrix w;
  w.dtype = DType::Q4_0;  // nearest stored type, for messages only
  w.rows = m.rows();
  w.cols = m.cols();
  w.int4 = &m;
  return w;
}

WeightMatrix WeightMatrix::of(const Fp8Matrix& m) {
  WeightMatrix w;
  w.dtype = DType::F8_E4M3;
  w.rows = m.rows();
  w.cols = m.cols();
  w.fp8 = &m;
  return w;
}

WeightMatrix WeightMatrix::with_rows(int64_t first, int64_t count) const {
  check(!int4 && !fp8 && first >= 0 && count > 0 && first + count <= rows, "a row view lies within its stored matrix",
        "rows [{}, {}) of {}", first, first + count, rows);
  WeightMatrix w = *this;
  w.data = row(first);
  w.rows = count;
  w.panels = nullptr;
  w.f16_panels = nullptr;
  return w;
}

size_t WeightMatrix::stored_bytes() const {
  return int4         ? int4->nbytes()
         : fp8        ? fp8->nbytes()
         : f16_panels ? f16_panels->nbytes()
         : panels     ? panels->nbytes()
                      : size_t(rows) * row_bytes;
}

bool matmul_supports(DType dtype, int64_t cols) {
  switch (dtype) {
    case DType::F32:
    case DType::F16:
    case DType::BF16: return cols > 0;
    case DType::Q8_0:
    case DType::Q4_0: return cols > 0 && cols % kQuantBlock == 0;
    default: return false;
  }
}

void dequantize_row(DType dtype, const uint8_t* src, int64_t cols, float* dst) {
  switch (dtype) {
    case DType::F32: std::memcpy(dst, src, size_t(cols) * 4); return;
    case DType::F16:
    case DType::BF16:
      for (int64_t c = 0; c < cols; ++c) {
        uint16_t h;
        std::memcpy(&h, src + 2 * c, 2);
        dst[c] = dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      return;
    case DType::Q8_0:
      for (int64_t b = 0; b < cols / kQuantBlock; ++b) {
        const uint8_t* block = src + b * kQ8_0BlockBytes;
        const float d = block_scale(block);
        for (int j = 0; j < kQuantBlock; ++j) dst[b * kQuantBlock + j] = d * float(int8_t(block[2 + j]));
      }
      return;
    case DType::Q4_0:
      for (int64_t b = 0; b < cols / kQuantBlock; ++b) {
        const uint8_t* block = src + b * kQ4_0BlockBytes;
        const float d = block_scale(block);
        float* out = dst + b * kQuantBlock;
        for (int j = 0; j < 16; ++j) {
          out[j] = d * float((block[2 + j] & 0x0f) - 8);
          out[j + 16] = d * float((block[2 + j] >> 4) - 8);
        }
      }
      return;
    default: fail("dequantize_row: unsupported dtype {}", dtype_name(dtype));
  }
}

// The reference: decode each row once, then plain dot products.
void matmul_scalar(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  thread_local std::vector<float> row;
  row.resize(size_t(a.w.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_row(a.w.dtype, a.w.row(r), a.w.cols, row.data());
    for (int64_t t = 0; t < a.n; ++t) {
      const float* x = a.x + t * a.w.cols;
      float sum = 0;
      for (int64_t c = 0; c < a.w.cols; ++c) sum += x[c] * row[size_t(c)];
      a.y[t * a.w.rows + r] = sum;
    }
  }
}

KernelDefinition<MatmulFn> gemm_definition(DType dtype) {
  switch (dtype) {
    case DType::F32: return kGemmF32;
    case DType::F16: return kGemmF16;
    case DType::BF16: return kGemmBf16;
    case DType::Q8_0: return kGemmQ8_0;
    case DType::Q4_0: return kGemmQ4_0;
    default: fail("matmul: no kernel definition for dtype {}", dtype_name(dtype));
  }
}

namespace {

// The selected solution of the dense gemm definition of `dtype`.
const Solution* selected_gemm(DType dtype) {
  static const SelectedKernel f32(kGemmF32), f16(kGemmF16), bf16(kGemmBf16), q8_0(kGemmQ8_0), q4_0(kGemmQ4_0);
  switch (dtype) {
    case DType::F32: return f32.solution();
    case DType::F16: return f16.solution();
    case DType::BF16: return bf16.solution();
    case DType::Q8_0: return q8_0.solution();
    case DType::Q4_0: return q4_0.solution();
    default: fail("matmul: no kernel definition for dtype {}", dtype_name(dtype));
  }
}

// The dispatch point of the dense gemm definitions: the selected solution,
// looked up on the calling thread, on output rows [row_begin, row_end), in
// whole 16-row blocks across the global thread pool when `parallel` (keeping
// the SIMD row tiles aligned).
void run_selected_gemm(const MatmulArgs& a, int64_t row_begin, int64_t row_end, bool parallel) {
  constexpr int64_t kRowBlock = 16;
  const Solution* solution = selected_gemm(a.w.dtype);
  if (a.w.dtype == DType::BF16 && row_begin == 0) {
    // One observation per matmul: a parallel call starts here once, a
    // serial one (matmul_rows) per row range, whose first range starts at 0.
    const int64_t shape[] = {a.w.rows, a.w.cols};
    observe_kernel_call(kGemmBf16.name, shape, a.n);
  }
  if (any_shape_choices() && a.w.dtype == DType::BF16) {
    const int64_t shape[] = {a.w.rows, a.w.cols};
    if (const Solution* s = shape_choice(kGemmBf16.name, shape, a.n)) solution = s;
  }
  const MatmulFn fn = solution->kernel(gemm_definition(a.w.dtype));
  count_gemm_work(solution->path, a.n, row_end - row_begin, a.w.cols);
  if (!parallel) return fn(a, row_begin, row_end);
  // The f16fma solution's activations, converted once for all threads.
  MatmulArgs args = a;
  F16Activations converted;
  if (solution->path == NumericPath::F16Fma && a.w.dtype == DType::BF16 && a.n > 1) {
    converted = f16_activations(a.x, a.n, a.w.cols);
    args.f16 = &converted;
  }
  auto rows = [&](int64_t b0, int64_t b1) {
    fn(args, row_begin + b0 * kRowBlock, std::min(row_end, row_begin + b1 * kRowBlock));
  };
  const int64_t blocks = (row_end - row_begin + kRowBlock - 1) / kRowBlock;
  // Decode-sized calls: one row range per thread, each a single weight
  // stream. Prompt-sized ones (milliseconds each): 64 rows at a time from a
  // shared counter, so a thread that loses its core for a while does not
  // leave the other waiting.
  constexpr int64_t kDynamicGrainBlocks = 4;
  if (a.n > kSharedInputMaxTokens) return ThreadPool::global().parallel_for_dynamic(blocks, kDynamicGrainBlocks, rows);
  ThreadPool::global().parallel_for(blocks, rows);
}

}  // namespace

Bf16Layout bf16_layout_of(MatmulFn solution) {
  return solution == matmul_avx512   ? Bf16Layout::Bf16Panels
         : solution == matmul_f16fma ? Bf16Layout::F16Panels
                                     : Bf16Layout::Rows;
}

Bf16Copies relay_for(MatmulFn solution, WeightMatrix& w) {
  Bf16Copies copies;
  if (w.dtype != DType::BF16) return copies;
  switch (bf16_layout_of(solution)) {
    case Bf16Layout::Bf16Panels:
      copies.bf16 = std::make_shared<const Bf16Panels>(w.data, w.rows, w.cols, w.row_bytes);
      break;
    case Bf16Layout::F16Panels:
      copies.f16 = std::make_shared<const F16Panels>(w.data, w.rows, w.cols, w.row_bytes);
      break;
    case Bf16Layout::Rows: break;
  }
  w.panels = copies.bf16.get();
  w.f16_panels = copies.f16.get();
  return copies;
}

Bf16Layouts matmul_bf16_layouts(int64_t rows, int64_t cols) {
  Bf16Layouts needed;
  auto add = [&](const Solution* s) {
    const Bf16Layout layout = bf16_layout_of(s->kernel(kGemmBf16));
    needed.bf16_panels |= layout == Bf16Layout::Bf16Panels;
    needed.f16_panels |= layout == Bf16Layout::F16Panels;
  };
  add(selected_gemm(DType::BF16));
  const int64_t shape[] = {rows, cols};
  if (any_shape_choices())
    for (const Solution* s : shape_choices_for(kGemmBf16.name, shape)) add(s);
  return needed;
}

void matmul(const float* x, int64_t n, const WeightMatrix& w, float* y) {
  if (w.int4) return int4_gemm(x, n, *w.int4, y);
  if (w.fp8) return fp8_gemm(x, n, *w.fp8, y);
  run_selected_gemm(MatmulArgs{x, n, w, y}, 0, w.rows, true);
}

void matmul_shared_input(const float* x, int64_t n, std::initializer_list<MatmulOutput> outputs) {
  if (n > kSharedInputMaxTokens) {
    // W4A8 matrices take the input quantized once for all of them.
    const bool quantize_once = std::all_of(outputs.begin(), outputs.end(), [](const MatmulOutput& o) {
      return o.w->int4 && int4_gemm_runs_w4a8(*o.w->int4);
    });
    if (quantize_once) {
      const QuantizedActivations xq = int4_quantize_input(x, n, outputs.begin()->w->cols);
      for (const MatmulOutput& o : outputs) int4_gemm_q8(xq, n, *o.w->int4, o.y);
      return;
    }
    for (const MatmulOutput& o : outputs) matmul(x, n, *o.w, o.y);
    return;
  }
  // Row blocks of all matrices, end to end: matrix i owns [first[i], first[i + 1]).
  std::vector<int64_t> first{0};
  for (const MatmulOutput& o : outputs) first.push_back(first.back() + (o.w->rows + kMatmulRowAlign - 1) / kMatmulRowAlign);
  ThreadPool::global().parallel_for(first.back(), [&](int64_t b0, int64_t b1) {
    size_t i = 0;
    for (const MatmulOutput& o : outputs) {
      const int64_t lo = std::max(b0, first[i]), hi = std::min(b1, first[i + 1]);
      if (lo < hi) {
        matmul_rows(x, n, *o.w, o.y, (lo - first[i]) * kMatmulRowAlign,
                    std::min(o.w->rows, (hi - first[i]) * kMatmulRowAlign));
      }
      ++i;
    }
  });
}

void matmul_serial(const float* x, int64_t n, const WeightMatrix& w, float* y) {
  matmul_rows(x, n, w, y, 0, w.rows);
}

void matmul_rows(const float* x, int64_t n, const WeightMatrix& w, float* y, int64_t row_begin, int64_t row_end) {
  if (w.int4) return int4_gemm_rows(x, n, *w.int4, y, row_begin, row_end);
  if (w.fp8) return fp8_gemm_rows(x, n, *w.fp8, y, row_begin, row_end);
  run_selected_gemm(MatmulArgs{x, n, w, y}, row_begin, row_end, false);
}

}  // namespace strata
