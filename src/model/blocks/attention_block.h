#pragma once
// Causal GQA self-attention of one layer over the paged KV cache:
//   q, k, v = x Wq, x Wk, x Wv;  q/k RMSNorm (none, per head, or over the whole
//   projection);  NeoX or GPT-J RoPE on the first rotary_dim dims of each head;  rows
//   stored in the cache;  softmax(q K^T / sqrt(head_dim)) V;  out = attn Wo.
// Every row's K/V is stored before any row attends, so a row also sees the
// earlier rows of its own sequence from the same batch.
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "model/layer_spec.h"

namespace strata {

class Workspace;
struct BatchRows;
struct KVLayerView;

struct AttentionWeights {
  WeightMatrix q, k, v, o;
  std::vector<float> q_norm, k_norm;  // [head_dim] per head or [heads * head_dim] whole; empty for none
};

void attention_block(const AttentionSpec& spec, const AttentionWeights& w, const BatchRows& rows, const float* x,
                     float* out, const KVLayerView& kv, Workspace& ws);

}  // namespace strata
