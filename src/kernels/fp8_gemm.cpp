#include "kernels/fp8_gemm.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/fp8_matrix.h"
#include "kernels/gemm_work.h"

namespace strata {

void fp8_gemm_scalar(const Fp8GemmArgs& a, int64_t row_begin, int64_t row_end) {
  const Fp8Matrix& w = *a.w;
  thread_local std::vector<float> row;
  row.resize(size_t(w.cols()));
  for (int64_t r = row_begin; r < row_end; ++r) {
    w.dequantize_row(r, row.data());
    for (int64_t t = 0; t < a.n; ++t) {
      const float* x = a.x + t * w.cols();
      float sum = 0;
      for (int64_t c = 0; c < w.cols(); ++c) sum += x[c] * row[size_t(c)];
      a.y[t * w.rows() + r] = sum;
    }
  }
}

namespace {

// The dispatch point of gemm_fp8_e4m3_block128: the selected solution,
// looked up on the calling thread, on output rows [row_begin, row_end), in
// 16-row blocks across the global thread pool when `parallel` (as matmul()
// splits the other weight types).
void run_selected(const Fp8GemmArgs& a, int64_t row_begin, int64_t row_end, bool parallel) {
  constexpr int64_t kRowBlock = 16;
  static const SelectedKernel selected(kGemmFp8E4m3Block128);
  const Solution* solution = selected.solution();
  const Fp8GemmFn fn = solution->kernel(kGemmFp8E4m3Block128);
  count_gemm_work(solution->path, a.n, row_end - row_begin, a.w->cols());
  if (!parallel) return fn(a, row_begin, row_end);
  ThreadPool::global().parallel_for((row_end - row_begin + kRowBlock - 1) / kRowBlock, [&](int64_t b0, int64_t b1) {
    fn(a, row_begin + b0 * kRowBlock, std::min(row_end, row_begin + b1 * kRowBlock));
  });
}

}  // namespace

void fp8_gemm(const float* x, int64_t n, const Fp8Matrix& w, float* y) {
  run_selected(Fp8GemmArgs{x, n, &w, y}, 0, w.rows(), true);
}

void fp8_gemm_rows(const float* x, int64_t n, const Fp8Matrix& w, float* y, int64_t row_begin, int64_t row_end) {
  run_selected(Fp8GemmArgs{x, n, &w, y}, row_begin, row_end, false);
}

}  // namespace strata
