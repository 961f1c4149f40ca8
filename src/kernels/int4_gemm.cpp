#include "kernels/int4_gemm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu_isa.h"
#include "kernels/gemm_work.h"
#include "kernels/int4_matrix.h"
#include "kernels/kernel_calls.h"
#include "kernels/shape_choices.h"

namespace strata {

// The reference: per row and group, the dot product of x with the integer
// quants, then scaled (the order every solution follows).
void int4_gemm_scalar(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  const Int4Matrix& w = *a.w;
  const int64_t row_end = std::min(w.rows(), tile_end * Int4Matrix::kTileRows);
  for (int64_t r = tile_begin * Int4Matrix::kTileRows; r < row_end; ++r) {
    for (int64_t t = 0; t < a.n; ++t) {
      const float* x = a.x + t * w.cols();
      float acc = 0;
      for (int64_t g = 0; g < w.groups(); ++g) {
        float dot = 0;
        for (int64_t c = g * Int4Matrix::kGroup; c < (g + 1) * Int4Matrix::kGroup; ++c) dot += x[c] * float(w.quant(r, c));
        acc += w.scale(r, g) * dot;
      }
      a.y[t * w.rows() + r] = acc;
    }
  }
}

void quantize_activations_q8(const float* x, int64_t cols, int8_t* q, float* d, int32_t* qsum) {
  for (int64_t g = 0; g < cols / Int4Matrix::kGroup; ++g) {
    const float* xg = x + g * Int4Matrix::kGroup;
    float amax = 0;
    for (int i = 0; i < Int4Matrix::kGroup; ++i) amax = std::max(amax, std::fabs(xg[i]));
    const float scale = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < Int4Matrix::kGroup; ++i) {
      const int v = int(std::nearbyint(xg[i] * inv));
      q[g * Int4Matrix::kGroup + i] = int8_t(v);
      sum += v;
    }
    d[g] = f16_to_f32(f32_to_f16(scale));  // Q8_0 stores d as f16
    qsum[g] = sum;
  }
}

QuantizedActivations quantize_tokens_q8(const float* x, int64_t n, int64_t cols, QuantizeActivationsFn quantize) {
  const int64_t groups = cols / Int4Matrix::kGroup;
  thread_local std::vector<int8_t> q;
  thread_local std::vector<float> d;
  thread_local std::vector<int32_t> qsum;
  q.resize(size_t(n * cols));
  d.resize(size_t(n * groups));
  qsum.resize(size_t(n * groups));
  for (int64_t t = 0; t < n; ++t) {
    quantize(x + t * cols, cols, &q[size_t(t * cols)], &d[size_t(t * groups)], &qsum[size_t(t * groups)]);
  }
  return {q.data(), d.data(), qsum.data(), cols, groups};
}

QuantizedActivations int4_quantize_input(const float* x, int64_t n, int64_t cols) {
  const QuantizeActivationsFn quantize = isa_supported(Isa::Avx512) ? quantize_activations_q8_avx512
                                         : isa_supported(Isa::Avx2) ? quantize_activations_q8_avx2
                                                                    : quantize_activations_q8;
  thread_local std::vector<int8_t> q;
  thread_local std::vector<float> d;
  thread_local std::vector<int32_t> qsum;
  const int64_t groups = cols / Int4Matrix::kGroup;
  q.resize(size_t(n * cols));
  d.resize(size_t(n * groups));
  qsum.resize(size_t(n * groups));
  // The calling thread's buffers: inside the loop `q` would name the worker's.
  int8_t* const qs = q.data();
  float* const ds = d.data();
  int32_t* const sums = qsum.data();
  ThreadPool::global().parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) quantize(x + t * cols, cols, qs + t * cols, ds + t * groups, sums + t * groups);
  });
  return {qs, ds, sums, cols, groups};
}

namespace {

const SelectedKernel<Int4GemmFn>& selected_int4() {
  static const SelectedKernel selected(kGemmW4a16G32);
  return selected;
}

// The dispatch point of gemm_w4a16_g32: the selected solution, looked up on
// the calling thread, on row tiles [tile_begin, tile_end), split across the
// global thread pool when `parallel`.
void run_selected(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end, bool parallel) {
  const SelectedKernel<Int4GemmFn>& selected = selected_int4();
  const int64_t shape[] = {a.w->rows(), a.w->cols()};
  if (tile_begin == 0) observe_kernel_call(kGemmW4a16G32.name, shape, a.n);
  const Solution* solution = choose(selected, kGemmW4a16G32, shape, a.n);
  if (!a.x && solution->path != NumericPath::W4A8) {
    fail("gemm_w4a16_g32: {} needs f32 activations, given quantized ones", solution->name);
  }
  const Int4GemmFn fn = solution->kernel(kGemmW4a16G32);
  count_gemm_work(solution->path, a.n, std::min(a.w->rows(), tile_end * Int4Matrix::kTileRows) - tile_begin * Int4Matrix::kTileRows,
                  a.w->cols());
  if (!parallel) return fn(a, tile_begin, tile_end);
  // Threads that share a w4a8 call's tokens would each quantize all of
  // them: quantize once, across the threads, first.
  Int4GemmArgs shared = a;
  QuantizedActivations xq;
  if (!a.q8 && a.n > 1 && solution->path == NumericPath::W4A8) {
    xq = int4_quantize_input(a.x, a.n, a.w->cols());
    shared.q8 = &xq;
  }
  ThreadPool::global().parallel_for(tile_end - tile_begin, [&](int64_t t0, int64_t t1) {
    fn(shared, tile_begin + t0, tile_begin + t1);
  });
}

}  // namespace

void int4_gemm(const float* x, int64_t n, const Int4Matrix& w, float* y) {
  run_selected(Int4GemmArgs{x, n, &w, y}, 0, w.tiles(), true);
}

namespace {

void run_rows(const Int4GemmArgs& a, int64_t row_begin, int64_t row_end) {
  constexpr int64_t kTile = Int4Matrix::kTileRows;
  if (row_begin % kTile != 0 || (row_end % kTile != 0 && row_end != a.w->rows())) {
    fail("int4_gemm_rows: rows [{}, {}) are not whole 16-row tiles", row_begin, row_end);
  }
  run_selected(a, row_begin / kTile, (row_end + kTile - 1) / kTile, false);
}

}  // namespace

void int4_gemm_rows(const float* x, int64_t n, const Int4Matrix& w, float* y, int64_t row_begin,
                    int64_t row_end) {
  run_rows(Int4GemmArgs{x, n, &w, y}, row_begin, row_end);
}

bool int4_gemm_runs_w4a8(const Int4Matrix& w) {
  if (selected_int4().solution()->path != NumericPath::W4A8) return false;
  const int64_t shape[] = {w.rows(), w.cols()};
  for (const Solution* s : shape_choices_for(kGemmW4a16G32.name, shape))
    if (s->path != NumericPath::W4A8) return false;
  return true;
}

void int4_gemm_q8(const QuantizedActivations& x, int64_t n, const Int4Matrix& w, float* y) {
  if (x.cols != w.cols()) fail("int4_gemm_q8: {} quantized columns for a {}-column matrix", x.cols, w.cols());
  run_selected(Int4GemmArgs{nullptr, n, &w, y, &x}, 0, w.tiles(), true);
}


void int4_gemm_rows_q8(const QuantizedActivations& x, int64_t n, const Int4Matrix& w, float* y, int64_t row_begin,
                       int64_t row_end) {
  if (x.cols != w.cols()) fail("int4_gemm_rows_q8: {} quantized columns for a {}-column matrix", x.cols, w.cols());
  run_rows(Int4GemmArgs{nullptr, n, &w, y, &x}, row_begin, row_end);
}

}  // namespace strata
