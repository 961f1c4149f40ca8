#pragma once
// The order in which the AVX-512 GEMMs of several tokens visit a row group
// (matmul_avx512.cpp, matmul_bf16dot_avx512.cpp): each token tile takes
// every row tile of the group one column block at a time, so the tile's
// activations of a block stay in L1 across the row tiles. The kernels carry
// each tile's 16-lane sums between blocks, so the order of additions is one
// pass's.
#include <algorithm>
#include <cstdint>

namespace strata {

// Calls tile(t, nt, c0, c1, r, nr) for the tile of tokens [t, t + nt), rows
// [r, r + nr) and columns [c0, c1), in that order.
template <typename Tile>
inline void for_each_gemm_tile(int64_t n, int64_t tile_tokens, int64_t rows, int64_t tile_rows, int64_t cols,
                               int64_t column_block, const Tile& tile) {
  for (int64_t t = 0; t < n; t += tile_tokens) {
    const int64_t nt = std::min(tile_tokens, n - t);
    for (int64_t c0 = 0; c0 < cols; c0 += column_block) {
      const int64_t c1 = std::min(cols, c0 + column_block);
      for (int64_t r = 0; r < rows; r += tile_rows) tile(t, nt, c0, c1, r, std::min(tile_rows, rows - r));
    }
  }
}

}  // namespace strata
