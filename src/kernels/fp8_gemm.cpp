#include "kernels/fp8_gemm.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/fp8_matrix.h"

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

const KernelList<Fp8GemmFn>& fp8_gemm_kernels() {
  static const KernelList<Fp8GemmFn> list = {
      {"fp8_gemm_scalar", Isa::Scalar, fp8_gemm_scalar},
      {"fp8_gemm_avx512", Isa::Avx512, fp8_gemm_avx512},
  };
  return list;
}

const KernelImpl<Fp8GemmFn>& fp8_gemm_selected() {
  static const KernelImpl<Fp8GemmFn>& best = best_kernel(fp8_gemm_kernels(), kFp8GemmDefinition);
  return best;
}

void fp8_gemm(const float* x, int64_t n, const Fp8Matrix& w, float* y) {
  // 16-row blocks, as matmul() splits the other weight types.
  constexpr int64_t kRowBlock = 16;
  const Fp8GemmArgs args{x, n, &w, y};
  const Fp8GemmFn fn = fp8_gemm_selected().fn;
  ThreadPool::global().parallel_for((w.rows() + kRowBlock - 1) / kRowBlock, [&](int64_t b0, int64_t b1) {
    fn(args, b0 * kRowBlock, std::min(w.rows(), b1 * kRowBlock));
  });
}

void fp8_gemm_rows(const float* x, int64_t n, const Fp8Matrix& w, float* y, int64_t row_begin, int64_t row_end) {
  fp8_gemm_selected().fn(Fp8GemmArgs{x, n, &w, y}, row_begin, row_end);
}

}  // namespace strata
