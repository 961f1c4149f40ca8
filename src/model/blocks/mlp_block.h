#pragma once
// A SwiGLU MLP: down(silu(gate x) * up x): dense layers and shared experts
// (routed experts run the same maths piecewise inside moe_block).
#include <cstdint>

#include "kernels/matmul.h"

namespace strata {

class Workspace;

struct MlpWeights {
  WeightMatrix gate, up, down;
};

// out[n, hidden] = MLP(x[n, hidden]).
void mlp_block(const MlpWeights& w, const float* x, int64_t n, float* out, Workspace& ws);

}  // namespace strata
