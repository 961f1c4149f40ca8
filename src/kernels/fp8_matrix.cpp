#include "kernels/fp8_matrix.h"

#include <array>

#include "core/dtype.h"
#include "core/error.h"

namespace strata {

const float* fp8_e4m3_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t;
    for (int i = 0; i < 256; ++i) t[size_t(i)] = fp8_e4m3_to_f32(uint8_t(i));
    return t;
  }();
  return table.data();
}

Fp8Matrix::Fp8Matrix(const uint8_t* codes, int64_t rows, int64_t cols, std::vector<float> scales)
    : codes_(codes), rows_(rows), cols_(cols), scales_(std::move(scales)) {
  if (rows <= 0 || cols <= 0) fail("fp8 matrix: shape [{}, {}] is empty", rows, cols);
  if (scales_.size() != size_t(row_blocks() * col_blocks())) {
    fail("fp8 matrix: [{}, {}] needs {} x {} block scales, got {}", rows, cols, row_blocks(), col_blocks(),
         scales_.size());
  }
}

void Fp8Matrix::dequantize_row(int64_t r, float* out) const {
  const float* table = fp8_e4m3_table();
  const uint8_t* codes = row(r);
  const float* scales = block_scales(r);
  for (int64_t c = 0; c < cols_; ++c) out[c] = table[codes[c]] * scales[c / kBlock];
}

}  // namespace strata
