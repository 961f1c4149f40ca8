// DeepSeek-V3 and Kimi K2 (the same DeepseekV3ForCausalLM; model_type
// deepseek_v3 / kimi_k2; GGUF arch deepseek2): pre-norm layers of multi-head
// latent attention (q LoRA, or one q projection as in V2-Lite; a cached
// latent of kv_lora_rank + rope dims per token; interleaved RoPE on the rope
// dims with DeepSeek's YaRN), then the first first_k_dense_replace layers a
// dense SwiGLU MLP and the rest a routed MoE plus always-on shared experts.
// Routing: sigmoid (or softmax) scores, e_score_correction_bias for selection
// only (topk_method noaux_tc), group-limited top-k, renormalised weights times
// routed_scaling_factor (never applied to the shared experts). The
// checkpoint's MTP layers (num_nextn_predict_layers) load for speculative
// decoding's mtp method (model/mtp_tensors.h).
#include <fmt/format.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/arch.h"
#include "model/hf_config.h"
#include "model/llama_tensors.h"
#include "model/mtp_tensors.h"

namespace strata {

namespace {

void set_fixed_fields(ModelConfig& c) {
  c.qk_norm = QkNorm::None;
  c.rope_interleaved = true;
  c.decoder_sparse_step = 1;
}

// Layers [0, k) are dense.
std::vector<int64_t> leading_layers(int64_t k) {
  std::vector<int64_t> layers;
  for (int64_t i = 0; i < k; ++i) layers.push_back(i);
  return layers;
}

int64_t leading_dense_count(const ModelConfig& c) {
  int64_t k = 0;
  while (k < c.num_hidden_layers && !c.is_moe_layer(k)) ++k;
  return k;
}

void read_hf(const HFConfigReader& hf, ModelConfig& c) {
  set_fixed_fields(c);
  c.q_lora_rank = hf.get<int64_t>("q_lora_rank", 0);  // null in V2-Lite: one q projection
  c.kv_lora_rank = hf.required<int64_t>("kv_lora_rank");
  c.qk_nope_head_dim = hf.required<int64_t>("qk_nope_head_dim");
  c.rotary_dim = hf.required<int64_t>("qk_rope_head_dim");
  c.v_head_dim = hf.required<int64_t>("v_head_dim");
  // transformers sets head_dim to the rope dims; strata's is the q/k head.
  c.head_dim = c.qk_nope_head_dim + c.rotary_dim;
  c.num_key_value_heads = c.num_attention_heads;
  c.num_experts = hf.required<int64_t>("n_routed_experts");
  c.num_experts_per_tok = hf.required<int64_t>("num_experts_per_tok");
  c.moe_intermediate_size = hf.required<int64_t>("moe_intermediate_size");
  c.n_shared_experts = hf.get<int64_t>("n_shared_experts", 0);
  c.mlp_only_layers = leading_layers(hf.get<int64_t>("first_k_dense_replace", 0));
  if (const int64_t freq = hf.get<int64_t>("moe_layer_freq", 1); freq != 1) {
    fail("{}: moe_layer_freq = {} is not supported (1)", hf.source(), freq);
  }
  const std::string scoring = hf.get<std::string>("scoring_func", "sigmoid");
  if (scoring != "sigmoid" && scoring != "softmax") {
    fail("{}: scoring_func '{}' is not supported (sigmoid, softmax)", hf.source(), scoring);
  }
  c.router_scoring = scoring == "sigmoid" ? RouterScoring::Sigmoid : RouterScoring::Softmax;
  const std::string method = hf.get<std::string>("topk_method", "noaux_tc");
  if (method == "noaux_tc") {  // grouped top-k over score + e_score_correction_bias
    c.router_correction_bias = true;
    c.n_group = hf.get<int64_t>("n_group", 1);
    c.topk_group = hf.get<int64_t>("topk_group", 1);
  } else if (method != "greedy") {
    fail("{}: topk_method '{}' is not supported (noaux_tc, greedy)", hf.source(), method);
  }
  c.routed_scaling_factor = hf.get<double>("routed_scaling_factor", 1.0);
  c.norm_topk_prob = hf.get<bool>("norm_topk_prob", true);
  c.num_mtp_modules = hf.get<int64_t>("num_nextn_predict_layers", 0);
}

void read_gguf(const GGUFFile& g, ModelConfig& c) {
  set_fixed_fields(c);
  const std::string p = "deepseek2.";
  const std::string src = g.describe();
  c.q_lora_rank = g.get_int(p + "attention.q_lora_rank", 0);
  c.kv_lora_rank = g.get_int(p + "attention.kv_lora_rank");
  if (!g.has(p + "attention.key_length_mla") || !g.has(p + "attention.value_length_mla")) {
    fail("{}: deepseek2 without attention.key_length_mla / value_length_mla (a legacy GGUF with an unsplit "
         "attn_kv_b) is not supported", src);
  }
  // The common reader took head_dim from key_length: the cached latent row.
  const int64_t key_length = c.head_dim, rope = c.rope_dims();
  if (key_length != c.kv_lora_rank + rope) {
    fail("{}: {}attention.key_length = {} is not kv_lora_rank + rope.dimension_count = {} + {}", src, p, key_length,
         c.kv_lora_rank, rope);
  }
  if (const int64_t v = g.get_int(p + "attention.value_length", c.kv_lora_rank); v != c.kv_lora_rank) {
    fail("{}: {}attention.value_length = {} is not kv_lora_rank = {}", src, p, v, c.kv_lora_rank);
  }
  c.head_dim = g.get_int(p + "attention.key_length_mla");
  c.qk_nope_head_dim = c.head_dim - rope;
  c.v_head_dim = g.get_int(p + "attention.value_length_mla");
  c.num_key_value_heads = c.num_attention_heads;  // the GGUF's 1 is the shared latent
  c.num_experts = g.get_int(p + "expert_count");
  c.num_experts_per_tok = g.get_int(p + "expert_used_count");
  c.moe_intermediate_size = g.get_int(p + "expert_feed_forward_length");
  c.n_shared_experts = g.get_int(p + "expert_shared_count");
  c.mlp_only_layers = leading_layers(g.get_int(p + "leading_dense_block_count", 0));
  c.n_group = g.get_int(p + "expert_group_count", 1);
  c.topk_group = g.get_int(p + "expert_group_used_count", 1);
  c.routed_scaling_factor = g.get_float(p + "expert_weights_scale", 1.0);
  c.norm_topk_prob = g.get_bool(p + "expert_weights_norm", false);
  // llama.cpp reads a missing gating function as softmax (DeepSeek-V2 GGUFs).
  const int64_t gating = g.get_int(p + "expert_gating_func", 1);
  if (gating != 1 && gating != 2) fail("{}: {}expert_gating_func {} is not supported (1 softmax, 2 sigmoid)", src, p, gating);
  c.router_scoring = gating == 2 ? RouterScoring::Sigmoid : RouterScoring::Softmax;
  // The bias is optional in llama.cpp: routing uses it when the file has it.
  const int64_t first_moe = int64_t(c.mlp_only_layers.size());
  c.router_correction_bias = g.find(fmt::format("blk.{}.exp_probs_b.bias", first_moe)) != nullptr;
  c.num_mtp_modules = g.get_int(p + "nextn_predict_layers", 0);
  c.num_hidden_layers -= c.num_mtp_modules;  // block_count counts them
  const std::string scaling = g.get_string(p + "rope.scaling.type", "none");
  if (scaling == "yarn") {
    YarnScaling& y = c.rope_scaling;
    y.enabled = true;
    y.factor = g.get_float(p + "rope.scaling.factor");
    y.original_max_position = g.get_int(p + "rope.scaling.original_context_length");
    // The converter writes 0.1 * mscale_all_dim; llama.cpp takes mscale equal to it.
    y.mscale_all_dim = g.get_float(p + "rope.scaling.yarn_log_multiplier", 0.0) / 0.1;
    y.mscale = y.mscale_all_dim;
    y.beta_fast = g.get_float(p + "rope.scaling.yarn_beta_fast", 32.0);
    y.beta_slow = g.get_float(p + "rope.scaling.yarn_beta_slow", 1.0);
  } else if (scaling != "none") {
    fail("{}: {}rope.scaling.type '{}' is not supported (yarn)", src, p, scaling);
  }
}

void write_hf(const ModelConfig& c, nlohmann::json& j) {
  j.erase("head_dim");  // derived from the nope and rope dims
  if (c.q_lora_rank > 0) {
    j["q_lora_rank"] = c.q_lora_rank;
  } else {
    j["q_lora_rank"] = nullptr;
  }
  j["kv_lora_rank"] = c.kv_lora_rank;
  j["qk_nope_head_dim"] = c.qk_nope_head_dim;
  j["qk_rope_head_dim"] = c.rope_dims();
  j["v_head_dim"] = c.v_head_dim;
  j["n_routed_experts"] = c.num_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["n_shared_experts"] = c.n_shared_experts;
  j["first_k_dense_replace"] = leading_dense_count(c);
  j["moe_layer_freq"] = 1;
  j["scoring_func"] = c.router_scoring == RouterScoring::Sigmoid ? "sigmoid" : "softmax";
  j["topk_method"] = c.router_correction_bias ? "noaux_tc" : "greedy";
  j["n_group"] = c.n_group;
  j["topk_group"] = c.topk_group;
  j["routed_scaling_factor"] = c.routed_scaling_factor;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["num_nextn_predict_layers"] = c.num_mtp_modules;
}

void write_gguf(const ModelConfig& c, GGUFWriter& w) {
  const std::string p = "deepseek2.";
  if (c.intermediate_size > 0) w.set_u32(p + "feed_forward_length", uint32_t(c.intermediate_size));
  w.set_u32(p + "leading_dense_block_count", uint32_t(leading_dense_count(c)));
  w.set_u32(p + "attention.q_lora_rank", uint32_t(c.q_lora_rank));
  w.set_u32(p + "attention.kv_lora_rank", uint32_t(c.kv_lora_rank));
  w.set_u32(p + "attention.key_length_mla", uint32_t(c.head_dim));
  w.set_u32(p + "attention.value_length_mla", uint32_t(c.v_head_dim));
  w.set_u32(p + "expert_count", uint32_t(c.num_experts));
  w.set_u32(p + "expert_used_count", uint32_t(c.num_experts_per_tok));
  w.set_u32(p + "expert_feed_forward_length", uint32_t(c.moe_intermediate_size));
  w.set_u32(p + "expert_shared_count", uint32_t(c.n_shared_experts));
  w.set_u32(p + "expert_group_count", uint32_t(c.n_group));
  w.set_u32(p + "expert_group_used_count", uint32_t(c.topk_group));
  w.set_f32(p + "expert_weights_scale", float(c.routed_scaling_factor));
  w.set_bool(p + "expert_weights_norm", c.norm_topk_prob);
  w.set_u32(p + "expert_gating_func", c.router_scoring == RouterScoring::Sigmoid ? 2 : 1);
  if (c.rope_scaling.enabled) {
    const YarnScaling& y = c.rope_scaling;
    w.set_string(p + "rope.scaling.type", "yarn");
    w.set_f32(p + "rope.scaling.factor", float(y.factor));
    w.set_u32(p + "rope.scaling.original_context_length", uint32_t(y.original_max_position));
    w.set_f32(p + "rope.scaling.yarn_log_multiplier", float(0.1 * y.mscale_all_dim));
    w.set_f32(p + "rope.scaling.yarn_beta_fast", float(y.beta_fast));
    w.set_f32(p + "rope.scaling.yarn_beta_slow", float(y.beta_slow));
  }
}

void validate(const ModelConfig& c, const std::string& source) {
  auto at_least = [&](const char* key, int64_t v, int64_t lo) {
    if (v < lo) fail("{}: {} = {} must be at least {}", source, key, v, lo);
  };
  at_least("kv_lora_rank", c.kv_lora_rank, 1);
  at_least("qk_nope_head_dim", c.qk_nope_head_dim, 1);
  at_least("v_head_dim", c.v_head_dim, 1);
  at_least("q_lora_rank", c.q_lora_rank, 0);
  if (c.head_dim != c.qk_nope_head_dim + c.rope_dims()) {
    fail("{}: inconsistent MLA dims: the q/k head ({}) is not qk_nope_head_dim + qk_rope_head_dim = {} + {}", source,
         c.head_dim, c.qk_nope_head_dim, c.rope_dims());
  }
  if (c.num_key_value_heads != c.num_attention_heads) {
    fail("{}: inconsistent MLA dims: num_key_value_heads = {} must equal num_attention_heads = {}", source,
         c.num_key_value_heads, c.num_attention_heads);
  }
  if (c.qk_norm != QkNorm::None || !c.rope_interleaved) {
    fail("{}: {} has no q/k norms and uses interleaved RoPE", source, c.architecture);
  }
  if (c.num_experts <= 0) fail("{}: {} needs n_routed_experts > 0", source, c.architecture);
  if (c.router_correction_bias && c.router_scoring != RouterScoring::Sigmoid) {
    fail("{}: topk_method noaux_tc (e_score_correction_bias) needs scoring_func sigmoid", source);
  }
  if (c.mlp_only_layers != leading_layers(leading_dense_count(c))) {
    fail("{}: {} has dense layers only before the MoE ones (first_k_dense_replace)", source, c.architecture);
  }
}

// Decoder layer i (an MTP module's block when i >= num_hidden_layers).
void add_decoder_layer(TensorTable::Layer& l, const ModelConfig& c, int64_t i) {
  const int64_t H = c.hidden_size, heads = c.num_attention_heads, q_dim = heads * c.head_dim;
  using R = TensorRole;
  l.add(R::AttnNorm, "attn_norm.weight", "input_layernorm.weight", {H});
  if (c.q_lora_rank > 0) {
    l.add(R::QA, "attn_q_a.weight", "self_attn.q_a_proj.weight", {c.q_lora_rank, H});
    l.add(R::QANorm, "attn_q_a_norm.weight", "self_attn.q_a_layernorm.weight", {c.q_lora_rank});
    l.add(R::QB, "attn_q_b.weight", "self_attn.q_b_proj.weight", {q_dim, c.q_lora_rank});
  } else {
    l.add(R::Q, "attn_q.weight", "self_attn.q_proj.weight", {q_dim, H});
  }
  l.add(R::KvA, "attn_kv_a_mqa.weight", "self_attn.kv_a_proj_with_mqa.weight", {c.kv_lora_rank + c.rope_dims(), H});
  l.add(R::KvANorm, "attn_kv_a_norm.weight", "self_attn.kv_a_layernorm.weight", {c.kv_lora_rank});
  l.split_kv_b("self_attn.kv_b_proj.weight", "attn_k_b.weight", "attn_v_b.weight", heads, c.qk_nope_head_dim,
               c.v_head_dim, c.kv_lora_rank);
  l.add(R::O, "attn_output.weight", "self_attn.o_proj.weight", {H, heads * c.v_head_dim});
  l.add(R::FfnNorm, "ffn_norm.weight", "post_attention_layernorm.weight", {H});
  if (c.is_moe_layer(i)) {
    const int64_t E = c.num_experts, S = c.n_shared_experts * c.moe_intermediate_size;
    l.add(R::Router, "ffn_gate_inp.weight", "mlp.gate.weight", {E, H});
    if (c.router_correction_bias) {
      l.add(R::RouterBias, "exp_probs_b.bias", "mlp.gate.e_score_correction_bias", {E});
    }
    add_routed_experts(l, c);
    if (S > 0) {
      l.add(R::SharedGate, "ffn_gate_shexp.weight", "mlp.shared_experts.gate_proj.weight", {S, H});
      l.add(R::SharedUp, "ffn_up_shexp.weight", "mlp.shared_experts.up_proj.weight", {S, H});
      l.add(R::SharedDown, "ffn_down_shexp.weight", "mlp.shared_experts.down_proj.weight", {H, S});
    }
  } else {
    add_dense_mlp(l, c);
  }
}

std::vector<TensorSpec> tensors(const ModelConfig& c) {
  TensorTable t;
  add_token_embedding(t, c);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    TensorTable::Layer l = t.layer(i);
    add_decoder_layer(l, c, i);
  }
  add_output(t, c, false);  // llama.cpp's deepseek2 falls back to the embedding
  add_mtp_modules(t, c, /*own_head=*/true, [&](TensorTable::Layer& l, int64_t i) { add_decoder_layer(l, c, i); });
  return t.take();
}

ModelConfig preset(const std::string& name, const char* arch) {
  ModelConfig c;
  c.architecture = arch;
  set_fixed_fields(c);
  c.router_scoring = RouterScoring::Sigmoid;
  c.router_correction_bias = true;
  c.norm_topk_prob = true;
  if (name == "tiny") {
    c.hidden_size = 64;
    c.num_hidden_layers = 3;
    c.num_attention_heads = 4;
    c.q_lora_rank = 48;
    c.kv_lora_rank = 32;
    c.qk_nope_head_dim = 16;
    c.rotary_dim = 8;
    c.v_head_dim = 16;
    c.num_experts = 8;
    c.num_experts_per_tok = 2;
    c.n_shared_experts = 1;
    c.moe_intermediate_size = 32;
    c.intermediate_size = 96;
    c.mlp_only_layers = leading_layers(1);
    c.n_group = 2;
    c.topk_group = 1;
    c.routed_scaling_factor = 2.5;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 10000;
    c.max_position_embeddings = 4096;
    // YaRN at llama.cpp's fixed betas (32/1), so the tiny GGUF matches it.
    c.rope_scaling = {true, 4.0, 1024, 32.0, 1.0, 1.0, 1.0};
  } else if (name == "kimi-k2-layer") {  // Kimi K2 (Thinking)'s per-layer shapes: one dense layer, three MoE
    c.hidden_size = 7168;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 64;
    c.q_lora_rank = 1536;
    c.kv_lora_rank = 512;
    c.qk_nope_head_dim = 128;
    c.rotary_dim = 64;
    c.v_head_dim = 128;
    c.num_experts = 384;
    c.num_experts_per_tok = 8;
    c.n_shared_experts = 1;
    c.moe_intermediate_size = 2048;
    c.intermediate_size = 18432;
    c.mlp_only_layers = leading_layers(1);
    c.n_group = 1;
    c.topk_group = 1;
    c.routed_scaling_factor = 2.827;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 50000;
    c.max_position_embeddings = 262144;
    c.rope_scaling = {true, 64.0, 4096, 1.0, 1.0, 1.0, 1.0};
  } else {
    fail("synth: unknown preset '{}' for {} (known: tiny, kimi-k2-layer)", name, arch);
  }
  c.head_dim = c.qk_nope_head_dim + c.rotary_dim;
  c.num_key_value_heads = c.num_attention_heads;
  return c;
}

// Kimi K2 Thinking's compressed-tensors ignore list: only the routed experts are INT4.
const std::vector<std::string> kInt4Ignore = {"lm_head", "re:.*self_attn.*", "re:.*shared_experts.*",
                                              "re:.*mlp\\.(gate|up|gate_up|down)_proj.*"};

ArchSpec arch_spec(std::string_view model_type, ModelConfig (*preset_of)(const std::string&)) {
  return {model_type, "DeepseekV3ForCausalLM", "deepseek2", read_hf, read_gguf, write_hf, write_gguf, validate, tensors,
          preset_of, kInt4Ignore, true};
}

}  // namespace

const ArchSpec& deepseek_v3_arch() {
  static const ArchSpec spec = arch_spec("deepseek_v3", [](const std::string& name) { return preset(name, "deepseek_v3"); });
  return spec;
}

// The same architecture under Kimi's model_type; a deepseek2 GGUF loads as deepseek_v3.
const ArchSpec& kimi_k2_arch() {
  static const ArchSpec spec = arch_spec("kimi_k2", [](const std::string& name) { return preset(name, "kimi_k2"); });
  return spec;
}

}  // namespace strata
