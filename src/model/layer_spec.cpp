#include "model/layer_spec.h"

#include <cmath>

namespace strata {

LayerSpec layer_spec(const ModelConfig& c, int64_t layer) {
  LayerSpec s{};
  s.attention = {c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rope_dims(), c.rope_interleaved,
                 c.qk_norm, float(c.rope_theta), float(c.rms_norm_eps)};
  s.mla = c.is_mla();
  if (s.mla) {
    const double scale = yarn_softmax_scale_factor(c.rope_scaling) / std::sqrt(double(c.head_dim));
    s.latent = {c.num_attention_heads, c.q_lora_rank, c.kv_lora_rank, c.qk_nope_head_dim, c.rope_dims(),
                c.v_head_dim,          float(c.rms_norm_eps), float(scale),
                rope_table(c.rope_dims(), c.rope_theta, c.rope_scaling)};
  }
  s.moe = c.is_moe_layer(layer);
  if (s.moe) {
    s.experts.router = {c.router_scoring, c.router_correction_bias, c.norm_topk_prob, float(c.routed_scaling_factor),
                        c.num_experts, c.num_experts_per_tok, c.n_group, c.topk_group};
    s.experts.expert_ffn = c.moe_intermediate_size;
    s.experts.shared_ffn = c.n_shared_experts * c.moe_intermediate_size;
  }
  return s;
}

}  // namespace strata
