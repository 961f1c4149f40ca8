#pragma once
// BF16 weights re-laid at load as fp16 for gemm_bf16's f16fma path
// (matmul_f16fma_avx512fp16.cpp), which multiplies with fp16 FMAs: twice
// the f32 FMA rate on CPUs with AVX512-FP16.
//
// Layout: Bf16Panels' (16-row panels of column pairs, a 32-bit word per row
// and pair, the low half the even column), holding fp16 values. Row r's
// weights are first multiplied by 2^shift_r, the power of two that brings
// its largest magnitude into [1, 2), then rounded to fp16 (nearest even).
// Every bf16 weight that scales to at least 2^-17 (about 2^-18 of its
// row's largest) keeps its exact value, as fp16 has 3 more significand
// bits; smaller ones fall in fp16's subnormals, which hold fewer than
// bf16's 8 bits, and are rounded to a multiple of 2^-24. The scaled
// weights also keep the kernel's fp16 sums far from overflow.
// `unscale(p)` gives each panel row's 2^-shift_r (1 for padding rows), by
// which the kernel multiplies the row's sums.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace strata {

class F16Panels {
 public:
  static constexpr int64_t kRows = 16;

  // Re-lays a row-major [rows, cols] BF16 matrix (row r at data + r *
  // row_bytes), panels split across the global thread pool.
  F16Panels(const uint8_t* data, int64_t rows, int64_t cols, size_t row_bytes);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t panels() const { return (rows_ + kRows - 1) / kRows; }
  int64_t pairs() const { return (cols_ + 1) / 2; }
  size_t nbytes() const { return size_t(panels() * pairs() * kRows) * 4 + size_t(panels() * kRows) * 4; }
  // Panel p: pairs() x 16 words.
  const uint32_t* panel(int64_t p) const { return words_.get() + p * pairs() * kRows; }
  // Panel p's 16 row factors 2^-shift (64-byte aligned).
  const float* unscale(int64_t p) const { return unscale_.get() + p * kRows; }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  int64_t rows_, cols_;
  std::unique_ptr<uint32_t, Free> words_;  // 64-byte aligned
  std::unique_ptr<float, Free> unscale_;   // panels() * 16, 64-byte aligned
};

// The power of two 2^shift that brings a BF16 row's largest finite
// magnitude into [1, 2): 0 for a row of zeros or with an inf or NaN (those
// propagate as they would in f32), within [-126, 126].
int f16_row_shift(const uint8_t* row, int64_t cols);
// The same from the row's largest magnitude's bits (sign cleared).
int f16_shift_of_largest(uint16_t largest);

// Re-lays rows [row0, row0 + 16) of a row-major BF16 matrix (zero past
// `rows`) into one panel at `out` ((cols + 1) / 2 x 16 words, 64-byte
// aligned) and their factors into unscale[16]: the reference, and an
// AVX-512 variant (the same words).
void relay_f16_panel(const uint8_t* data, size_t row_bytes, int64_t rows, int64_t cols, int64_t row0, uint32_t* out,
                     float* unscale);
void relay_f16_panel_avx512(const uint8_t* data, size_t row_bytes, int64_t rows, int64_t cols, int64_t row0,
                            uint32_t* out, float* unscale);

}  // namespace strata
