// MiniMax-M2 (M2, M2.1, M2.5): pre-norm layers of GQA attention with RMSNorm
// over the whole q and k projections (before the head split) and NeoX RoPE on
// the first rotary_dim dims of each head, then a sigmoid-scored top-k MoE whose
// e_score_correction_bias only picks the experts, with renormalised weights
// and no shared expert. Every layer is MoE. MTP modules (use_mtp,
// num_mtp_modules; model.layers.{L..}) load for speculative decoding's mtp
// method: see model/mtp_tensors.h for their layout. GGUF arch: minimax-m2.
#include <fmt/format.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/arch.h"
#include "model/llama_tensors.h"
#include "model/mtp_tensors.h"
#include "model/hf_config.h"

namespace strata {

namespace {

void set_fixed_fields(ModelConfig& c) {
  c.qk_norm = QkNorm::Full;
  c.norm_topk_prob = true;
  c.decoder_sparse_step = 1;
}

void read_hf(const HFConfigReader& hf, ModelConfig& c) {
  set_fixed_fields(c);
  c.num_experts = hf.required<int64_t>("num_local_experts");
  c.num_experts_per_tok = hf.required<int64_t>("num_experts_per_tok");
  c.moe_intermediate_size = hf.required<int64_t>("intermediate_size");  // per expert in this config
  // transformers' MiniMaxM2Config defaults to rotary_dim 64; vLLM reads partial_rotary_factor.
  c.rotary_dim = hf.has("rotary_dim") || !hf.has("partial_rotary_factor")
                     ? hf.get<int64_t>("rotary_dim", 64)
                     : int64_t(double(c.head_dim) * hf.get<double>("partial_rotary_factor", 1.0));
  const std::string scoring = hf.get<std::string>("scoring_func", "sigmoid");
  if (scoring != "sigmoid") fail("{}: scoring_func '{}' is not supported (sigmoid)", hf.source(), scoring);
  c.router_scoring = RouterScoring::Sigmoid;
  c.router_correction_bias = hf.get<bool>("use_routing_bias", true);
  if (!hf.get<bool>("use_qk_norm", true)) c.qk_norm = QkNorm::None;
  const std::string qk_type = hf.get<std::string>("qk_norm_type", "per_layer");
  if (qk_type != "per_layer") fail("{}: qk_norm_type '{}' is not supported (per_layer)", hf.source(), qk_type);
  if (hf.get<int64_t>("shared_intermediate_size", 0) != 0) {
    fail("{}: shared_intermediate_size > 0 is not supported for minimax_m2", hf.source());
  }
  const auto attn_types = hf.get<std::vector<int64_t>>("attn_type_list", {});
  for (size_t i = 0; i < attn_types.size(); ++i) {
    if (attn_types[i] != 1) fail("{}: attn_type_list[{}] = {}: only full attention (1) is supported", hf.source(), i, attn_types[i]);
  }
  if (hf.get<bool>("use_mtp", false)) {
    c.num_mtp_modules = hf.get<int64_t>("num_mtp_modules", 0);
    if (const int64_t layers = hf.get<int64_t>("mtp_transformer_layers", 1); layers != 1) {
      fail("{}: mtp_transformer_layers = {} is not supported (1, MiniMax-M2's)", hf.source(), layers);
    }
  }
}

void read_gguf(const GGUFFile& g, ModelConfig& c) {
  set_fixed_fields(c);
  const std::string p = "minimax-m2.";
  c.num_experts = g.get_int(p + "expert_count");
  c.num_experts_per_tok = g.get_int(p + "expert_used_count");
  c.moe_intermediate_size = g.get_int(p + "expert_feed_forward_length");
  if (c.intermediate_size != c.moe_intermediate_size) {
    fail("{}: minimax-m2.feed_forward_length {} differs from expert_feed_forward_length {} (llama.cpp sizes the "
         "expert tensors by the former)", g.describe(), c.intermediate_size, c.moe_intermediate_size);
  }
  const int64_t gating = g.get_int(p + "expert_gating_func", 2);
  if (gating != 2) fail("{}: expert_gating_func {} is not supported (2, sigmoid)", g.describe(), gating);
  c.router_scoring = RouterScoring::Sigmoid;
  c.router_correction_bias = true;  // exp_probs_b is a required tensor in llama.cpp
}

void write_hf(const ModelConfig& c, nlohmann::json& j) {
  j["intermediate_size"] = c.moe_intermediate_size;
  j["num_local_experts"] = c.num_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["rotary_dim"] = c.rope_dims();
  j["partial_rotary_factor"] = double(c.rope_dims()) / double(c.head_dim);
  j["scoring_func"] = "sigmoid";
  j["use_routing_bias"] = true;
  j["use_qk_norm"] = true;
  j["qk_norm_type"] = "per_layer";
  j["shared_intermediate_size"] = 0;
  j["attn_type_list"] = std::vector<int64_t>(size_t(c.num_hidden_layers), 1);
  j["use_mtp"] = c.num_mtp_modules > 0;
  j["num_mtp_modules"] = c.num_mtp_modules;
  j["mtp_transformer_layers"] = 1;
}

void write_gguf(const ModelConfig& c, GGUFWriter& w) {
  const std::string p = "minimax-m2.";
  // llama.cpp sizes the stacked expert tensors by feed_forward_length.
  w.set_u32(p + "feed_forward_length", uint32_t(c.moe_intermediate_size));
  w.set_u32(p + "expert_feed_forward_length", uint32_t(c.moe_intermediate_size));
  w.set_u32(p + "expert_count", uint32_t(c.num_experts));
  w.set_u32(p + "expert_used_count", uint32_t(c.num_experts_per_tok));
  w.set_u32(p + "expert_gating_func", 2);  // sigmoid
}

// What MiniMax-M2's config and llama.cpp's minimax-m2 graph express (the GGUF
// requires the q/k norms and the bias): no other combination is accepted.
void validate(const ModelConfig& c, const std::string& source) {
  if (c.num_experts <= 0) fail("{}: minimax_m2 needs num_local_experts > 0", source);
  if (c.qk_norm != QkNorm::Full || c.rope_interleaved || c.rope_scaling.enabled) {
    fail("{}: minimax_m2 normalises the whole q/k projections and uses unscaled NeoX RoPE (no rope_scaling)", source);
  }
  if (c.router_scoring != RouterScoring::Sigmoid || !c.router_correction_bias || !c.norm_topk_prob ||
      c.n_group != 1 || c.routed_scaling_factor != 1.0) {
    fail("{}: minimax_m2 routes by sigmoid with a correction bias and renormalised weights", source);
  }
  if (c.n_shared_experts != 0 || !c.mlp_only_layers.empty() || c.decoder_sparse_step != 1) {
    fail("{}: minimax_m2 has no shared experts and MoE in every layer", source);
  }
}

void add_decoder_layer(TensorTable::Layer& l, const ModelConfig& c) {
  const int64_t H = c.hidden_size, E = c.num_experts, F = c.moe_intermediate_size;
  using R = TensorRole;
  add_attention_with_norms(l, c);
  l.add(R::Router, "ffn_gate_inp.weight", "block_sparse_moe.gate.weight", {E, H});
  l.add(R::RouterBias, "exp_probs_b.bias", "block_sparse_moe.e_score_correction_bias", {E});
  l.experts(R::ExpertGate, "ffn_gate_exps.weight", "block_sparse_moe.experts.", "w1.weight", E, {F, H});
  l.experts(R::ExpertUp, "ffn_up_exps.weight", "block_sparse_moe.experts.", "w3.weight", E, {F, H});
  l.experts(R::ExpertDown, "ffn_down_exps.weight", "block_sparse_moe.experts.", "w2.weight", E, {H, F});
}

std::vector<TensorSpec> tensors(const ModelConfig& c) {
  TensorTable t;
  add_token_embedding(t, c);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    TensorTable::Layer l = t.layer(i);
    add_decoder_layer(l, c);
  }
  add_output(t, c, true);  // llama.cpp's minimax-m2 requires output.weight
  add_mtp_modules(t, c, /*own_head=*/false, [&](TensorTable::Layer& l, int64_t) { add_decoder_layer(l, c); });
  return t.take();
}

ModelConfig preset(const std::string& name) {
  ModelConfig c;
  c.architecture = "minimax_m2";
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 5e6;
  c.router_scoring = RouterScoring::Sigmoid;
  c.router_correction_bias = true;
  set_fixed_fields(c);
  if (name == "tiny") {
    c.hidden_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 16;
    c.rotary_dim = 8;
    c.num_experts = 8;
    c.num_experts_per_tok = 2;
    c.moe_intermediate_size = 32;
    c.max_position_embeddings = 4096;
  } else if (name == "minimax-m2-layer") {  // MiniMax-M2's layer shapes
    c.hidden_size = 3072;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 48;
    c.num_key_value_heads = 8;
    c.head_dim = 128;
    c.rotary_dim = 64;
    c.num_experts = 256;
    c.num_experts_per_tok = 8;
    c.moe_intermediate_size = 1536;
    c.max_position_embeddings = 196608;
  } else {
    fail("synth: unknown preset '{}' for minimax_m2 (known: tiny, minimax-m2-layer)", name);
  }
  c.intermediate_size = c.moe_intermediate_size;
  return c;
}

}  // namespace

const ArchSpec& minimax_m2_arch() {
  static const ArchSpec spec{"minimax_m2", "MiniMaxM2ForCausalLM", "minimax-m2", read_hf, read_gguf, write_hf,
                             write_gguf, validate, tensors, preset,
                             // MiniMax-M2's own FP8 release keeps the router and the LM head high precision too.
                             {"lm_head", "re:.*self_attn.*", "re:.*block_sparse_moe\\.gate$"}};
  return spec;
}

}  // namespace strata
