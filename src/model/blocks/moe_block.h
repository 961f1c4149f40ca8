#pragma once
// A mixture-of-experts FFN: the router picks top_k experts per token
// (kernels/ops.h topk_router: softmax or sigmoid scores, selection bias,
// groups, renormalisation, scaling), each routed expert is a SwiGLU MLP run
// once over all the tokens routed to it, and the token's output is the
// weighted sum of its experts' outputs, plus the shared expert when there is
// one. The result does not depend on the batch or on which thread ran what.
#include <cstdint>
#include <vector>

#include "model/layer_spec.h"
#include "model/blocks/mlp_block.h"

namespace strata {

class Workspace;
struct ForwardStats;

struct MoeWeights {
  WeightMatrix router;                  // [n_experts, hidden]
  std::vector<float> correction_bias;   // [n_experts] or empty
  std::vector<MlpWeights> experts;
  MlpWeights shared;                    // when spec.shared_ffn > 0
};

void moe_block(const MoeSpec& spec, const MoeWeights& w, const float* x, int64_t n, int64_t hidden, float* out,
               Workspace& ws, ForwardStats* stats);

}  // namespace strata
