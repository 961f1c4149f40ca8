#pragma once
// What each decoder layer runs, derived from the config: the parameters of
// its attention block and of its MoE block (or a dense MLP). The blocks in
// model/blocks/ take these and know no architecture names.
#include <cstdint>

#include "model/config.h"
#include "model/yarn_rope.h"

namespace strata {

struct AttentionSpec {
  int64_t n_heads, n_kv_heads, head_dim, rotary_dim;
  bool rope_interleaved;  // GPT-J pairing, else NeoX
  QkNorm qk_norm;
  float rope_theta, eps;
};
// Multi-head latent attention (model/blocks/mla_block.h).
struct MlaSpec {
  int64_t n_heads, q_lora_rank, kv_lora_rank, nope_dim, rope_dim, v_dim;
  float eps, softmax_scale;
  RopeTable rope;
};
struct RouterSpec {
  RouterScoring scoring;
  bool correction_bias, renormalize;
  float routed_scale;
  int64_t n_experts, top_k, n_group, topk_group;
};
struct MoeSpec {
  RouterSpec router;
  int64_t expert_ffn, shared_ffn;  // shared_ffn 0: no shared expert
};

struct LayerSpec {
  bool mla;
  AttentionSpec attention;  // when !mla
  MlaSpec latent;           // when mla
  bool moe;
  MoeSpec experts;  // when moe; else the layer's MLP is dense
};

// The blocks of decoder layer `layer`, from the config.
LayerSpec layer_spec(const ModelConfig& c, int64_t layer);

}  // namespace strata
