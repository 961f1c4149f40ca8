#include "model/blocks/mlp_block.h"

#include "kernels/ops.h"
#include "model/workspace.h"

namespace strata {

void mlp_block(const MlpWeights& w, const float* x, int64_t n, float* out, Workspace& ws) {
  const int64_t ffn = w.gate.rows;
  float* gate = ws.floats(Scratch::Gate, size_t(n * ffn));
  float* up = ws.floats(Scratch::Up, size_t(n * ffn));
  matmul(x, n, w.gate, gate);
  matmul(x, n, w.up, up);
  silu_mul(gate, up, gate, n * ffn);
  matmul(gate, n, w.down, out);
}

}  // namespace strata
