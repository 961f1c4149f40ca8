#pragma once
// BF16 weights re-laid at load for the AVX-512 exact GEMM and GEMV
// (matmul_bf16_avx512.cpp), as int4_matrix.h re-lays INT4 ones.
//
// Layout: output rows are cut into panels of 16 (the last one padded with
// zero rows); a panel's columns go in pairs (2j, 2j + 1), the last one
// padded with a zero column when cols is odd. Pair j of a panel is 16
// 32-bit words, word i holding row i's bf16 of column 2j in its low half
// and of column 2j + 1 in its high half. One 64-byte load is then 16 rows
// x 2 columns, which a shift (column 2j) and a mask (column 2j + 1) turn
// into the two columns' f32 vectors: each weight is widened once per
// tile of tokens, and every row's sum is one chain of FMAs over its
// columns in order, whatever the number of tokens.
//
// The row-major weights stay where they are mapped: every other solution
// of gemm_bf16 reads those, and the panels are only a faster copy for
// this one. The copy takes as much memory as the weights; the mapped rows
// it was made from are page cache the kernel can reclaim, as nothing reads
// them afterwards unless a kernel table sends a shape to another solution.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace strata {

class Bf16Panels {
 public:
  static constexpr int64_t kRows = 16;

  // Re-lays a row-major [rows, cols] BF16 matrix (row r at data + r *
  // row_bytes), panels split across the global thread pool.
  Bf16Panels(const uint8_t* data, int64_t rows, int64_t cols, size_t row_bytes);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t panels() const { return (rows_ + kRows - 1) / kRows; }
  int64_t pairs() const { return (cols_ + 1) / 2; }
  size_t nbytes() const { return size_t(panels() * pairs() * kRows) * 4; }
  // Panel p: pairs() x 16 words.
  const uint32_t* panel(int64_t p) const { return words_.get() + p * pairs() * kRows; }

 private:
  struct Free {
    void operator()(uint32_t* p) const;
  };
  int64_t rows_, cols_;
  std::unique_ptr<uint32_t, Free> words_;  // 64-byte aligned
};

// The lanes (bit i: row 16p + i) of 16-row panel p that fall in rows
// [row_begin, row_end): what a kernel over panels stores of that panel.
inline uint16_t panel_row_lanes(int64_t p, int64_t row_begin, int64_t row_end) {
  const int64_t lo = row_begin > p * 16 ? row_begin - p * 16 : 0;
  const int64_t hi = row_end < (p + 1) * 16 ? row_end - p * 16 : 16;
  return uint16_t(((1u << hi) - 1) & ~((1u << lo) - 1));
}

// Re-lays rows [row0, row0 + 16) of a row-major BF16 matrix (zero past
// `rows`) into one panel at `out` ((cols + 1) / 2 x 16 words, 64-byte
// aligned): the reference, and 16 x 16 word transposes (the same words).
void relay_bf16_panel(const uint8_t* data, size_t row_bytes, int64_t rows, int64_t cols, int64_t row0, uint32_t* out);
void relay_bf16_panel_avx512(const uint8_t* data, size_t row_bytes, int64_t rows, int64_t cols, int64_t row0,
                             uint32_t* out);

}  // namespace strata
