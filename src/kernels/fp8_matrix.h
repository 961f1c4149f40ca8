#pragma once
// FP8 block-scaled weights as DeepSeek-V3 and MiniMax-M2 publish them: a
// [rows, cols] matrix of float8_e4m3fn codes (see core/dtype.h) and one f32
// scale per block of 128 x 128 (the last blocks of a row or column may be
// partial); weight (r, c) = e4m3(code) * scale[r / 128][c / 128].
//
// The codes stay where they are (the memory-mapped checkpoint): this type
// refers to them and owns only the small scale table, widened to f32.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata {

// f32 value of each of the 256 e4m3 codes (0x7f and 0xff are NaN).
const float* fp8_e4m3_table();

class Fp8Matrix {
 public:
  static constexpr int64_t kBlock = 128;

  // codes: rows * cols bytes, row-major, outliving this matrix. scales:
  // row_blocks() * col_blocks() values, row-major; the caller has checked
  // that they are finite and positive (formats/fp8_block.h does).
  Fp8Matrix(const uint8_t* codes, int64_t rows, int64_t cols, std::vector<float> scales);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t row_blocks() const { return (rows_ + kBlock - 1) / kBlock; }
  int64_t col_blocks() const { return (cols_ + kBlock - 1) / kBlock; }
  const uint8_t* row(int64_t r) const { return codes_ + size_t(r) * size_t(cols_); }
  // The col_blocks() scales of the block row holding row r.
  const float* block_scales(int64_t r) const { return scales_.data() + size_t(r / kBlock * col_blocks()); }
  // Bytes of codes plus scales.
  size_t nbytes() const { return size_t(rows_ * cols_) + scales_.size() * sizeof(float); }

  // The exact weight, code value times its block's scale rounded once to f32.
  float weight(int64_t r, int64_t c) const { return fp8_e4m3_table()[row(r)[c]] * block_scales(r)[c / kBlock]; }
  void dequantize_row(int64_t r, float* out) const;

 private:
  const uint8_t* codes_;
  int64_t rows_, cols_;
  std::vector<float> scales_;
};

}  // namespace strata
