#pragma once
// The loop the RoPE solutions share: each row's rotation angles (rope_angles
// in ops.h), then `rotate_heads(row, cos, sin)`, which rotates that row's
// heads in its own pairing and instruction set.
#include <cstdint>
#include <vector>

#include "kernels/ops.h"

namespace strata {

template <typename RotateHeads>
void for_each_rope_row(int64_t n_rows, int64_t rotary_dim, const int32_t* positions, float theta,
                       const RotateHeads& rotate_heads) {
  std::vector<float> cos_t(static_cast<size_t>(rotary_dim / 2)), sin_t(static_cast<size_t>(rotary_dim / 2));
  for (int64_t r = 0; r < n_rows; ++r) {
    rope_angles(positions[r], rotary_dim, theta, cos_t.data(), sin_t.data());
    rotate_heads(r, cos_t.data(), sin_t.data());
  }
}

}  // namespace strata
