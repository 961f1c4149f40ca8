#pragma once
// A SwiGLU MLP: down(silu(gate x) * up x). Dense layers, shared experts and
// (one at a time, inside moe_block) each routed expert are one.
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
