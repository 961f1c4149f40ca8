#include "kernels/gemm_work.h"

#include "core/op_profile.h"

namespace strata {

Work gemm_work(NumericPath path) {
  switch (path) {
    case NumericPath::W4A8: return Work::Int8Dot;
    case NumericPath::Bf16Dot: return Work::Bf16Dot;
    case NumericPath::F16Fma: return Work::F16Fma;
    case NumericPath::Exact: break;
  }
  return Work::F32Fma;
}

void count_gemm_work(NumericPath path, int64_t n, int64_t rows, int64_t cols) {
  if (op_profile::enabled()) op_profile::add_work(gemm_work(path), 2.0 * double(n) * double(rows) * double(cols));
}

}  // namespace strata
