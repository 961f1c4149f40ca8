// Qwen3-MoE (and dense Qwen3, the same layers with a plain SwiGLU MLP):
// pre-norm layers of GQA attention with per-head q/k RMSNorm and NeoX RoPE
// over the whole head, then a softmax top-k routed expert MLP (top-k weights
// renormalised when norm_topk_prob) or a dense MLP. GGUF: qwen3moe / qwen3.
#include <fmt/format.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/arch.h"
#include "model/llama_tensors.h"
#include "model/hf_config.h"

namespace strata {

namespace {

void read_hf_moe(const HFConfigReader& hf, ModelConfig& c) {
  c.moe_intermediate_size = hf.required<int64_t>("moe_intermediate_size");
  c.num_experts = hf.required<int64_t>("num_experts");
  c.num_experts_per_tok = hf.required<int64_t>("num_experts_per_tok");
  c.norm_topk_prob = hf.get<bool>("norm_topk_prob", false);  // the HF default
  c.decoder_sparse_step = hf.get<int64_t>("decoder_sparse_step", 1);
  c.mlp_only_layers = hf.get<std::vector<int64_t>>("mlp_only_layers", {});
}

void read_gguf_moe(const GGUFFile& g, ModelConfig& c) {
  const std::string p = "qwen3moe.";
  c.num_experts = g.get_int(p + "expert_count");
  c.num_experts_per_tok = g.get_int(p + "expert_used_count");
  c.moe_intermediate_size = g.get_int(p + "expert_feed_forward_length");
  c.norm_topk_prob = g.get_bool(p + "expert_weights_norm", true);  // llama.cpp always renormalises qwen3moe
  // GGUF has no sparse-step key: a layer without a router is dense.
  for (int64_t layer = 0; layer < c.num_hidden_layers && layer < 1024; ++layer) {
    if (!g.find(fmt::format("blk.{}.ffn_gate_inp.weight", layer))) c.mlp_only_layers.push_back(layer);
  }
}

void write_hf_moe(const ModelConfig& c, nlohmann::json& j) {
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["num_experts"] = c.num_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["decoder_sparse_step"] = c.decoder_sparse_step;
  j["mlp_only_layers"] = c.mlp_only_layers;
  j["output_router_logits"] = false;
}

void write_gguf_ffn(const ModelConfig& c, GGUFWriter& w, const std::string& p) {
  if (c.intermediate_size > 0) w.set_u32(p + "feed_forward_length", uint32_t(c.intermediate_size));
}

void write_gguf_moe(const ModelConfig& c, GGUFWriter& w) {
  const std::string p = "qwen3moe.";
  write_gguf_ffn(c, w, p);
  w.set_u32(p + "expert_count", uint32_t(c.num_experts));
  w.set_u32(p + "expert_used_count", uint32_t(c.num_experts_per_tok));
  w.set_u32(p + "expert_feed_forward_length", uint32_t(c.moe_intermediate_size));
  // llama.cpp's qwen3moe graph always renormalises the top-k weights and does
  // not read this key; it is written so that norm_topk_prob=false survives
  // the round trip for readers that do.
  w.set_bool(p + "expert_weights_norm", c.norm_topk_prob);
}

// What the Qwen3 config and GGUF keys can express: full NeoX RoPE, per-head
// q/k norms, a plain softmax router.
void validate_qwen3_family(const ModelConfig& c, const std::string& source) {
  if (c.rope_dims() != c.head_dim || c.rope_interleaved || c.qk_norm != QkNorm::PerHead || c.rope_scaling.enabled) {
    fail("{}: {} rotates whole heads with unscaled NeoX RoPE (no rope_scaling) and normalises q/k per head", source,
         c.architecture);
  }
  if (c.router_scoring != RouterScoring::Softmax || c.router_correction_bias || c.n_group != 1 ||
      c.routed_scaling_factor != 1.0 || c.n_shared_experts != 0) {
    fail("{}: {} routes with a plain softmax (no bias, groups, scaling or shared experts)", source, c.architecture);
  }
}

void validate_moe(const ModelConfig& c, const std::string& source) {
  if (c.num_experts <= 0) fail("{}: qwen3_moe needs num_experts > 0", source);
  validate_qwen3_family(c, source);
}

void validate_dense(const ModelConfig& c, const std::string& source) {
  if (c.num_experts != 0) fail("{}: dense qwen3 cannot have num_experts = {}", source, c.num_experts);
  validate_qwen3_family(c, source);
}

// Per layer: attention, then the routed experts or the dense MLP.
std::vector<TensorSpec> tensors(const ModelConfig& c) {
  TensorTable t;
  const int64_t H = c.hidden_size;
  using R = TensorRole;
  add_token_embedding(t, c);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    TensorTable::Layer l = t.layer(i);
    add_attention_with_norms(l, c);
    if (c.is_moe_layer(i)) {
      l.add(R::Router, "ffn_gate_inp.weight", "mlp.gate.weight", {c.num_experts, H});
      add_routed_experts(l, c);
    } else {
      add_dense_mlp(l, c);
    }
  }
  add_output(t, c, false);  // llama.cpp's qwen3moe falls back to the embedding
  return t.take();
}

ModelConfig preset(const std::string& name, const char* arch) {
  ModelConfig c;
  c.architecture = arch;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1e6;
  if (name == "tiny") {
    c.hidden_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 16;
    c.num_experts = 8;
    c.num_experts_per_tok = 2;
    c.moe_intermediate_size = 32;
    c.intermediate_size = 128;
    c.max_position_embeddings = 4096;
  } else if (name == "qwen3-30b-a3b-layer") {  // Qwen3-30B-A3B's layer shapes
    c.hidden_size = 2048;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 4;
    c.head_dim = 128;
    c.num_experts = 128;
    c.num_experts_per_tok = 8;
    c.moe_intermediate_size = 768;
    c.intermediate_size = 6144;
    c.max_position_embeddings = 40960;
  } else {
    fail("synth: unknown preset '{}' for {} (known: tiny, qwen3-30b-a3b-layer)", name, arch);
  }
  if (c.architecture == "qwen3") c.num_experts = c.num_experts_per_tok = c.moe_intermediate_size = 0;
  return c;
}

void read_hf_dense(const HFConfigReader&, ModelConfig&) {}
void read_gguf_dense(const GGUFFile&, ModelConfig&) {}
void write_hf_dense(const ModelConfig&, nlohmann::json&) {}
void write_gguf_dense(const ModelConfig& c, GGUFWriter& w) { write_gguf_ffn(c, w, "qwen3."); }

}  // namespace

const ArchSpec& qwen3_moe_arch() {
  static const ArchSpec spec{
      "qwen3_moe", "Qwen3MoeForCausalLM", "qwen3moe", read_hf_moe, read_gguf_moe, write_hf_moe, write_gguf_moe,
      validate_moe, tensors, [](const std::string& name) { return preset(name, "qwen3_moe"); },
      // As Kimi K2 Thinking: everything but the routed experts stays high precision.
      {"lm_head", "re:.*self_attn.*", "re:.*mlp\\.gate$", "re:.*mlp\\.(gate|up|down)_proj$"}};
  return spec;
}

const ArchSpec& qwen3_arch() {
  static const ArchSpec spec{
      "qwen3", "Qwen3ForCausalLM", "qwen3", read_hf_dense, read_gguf_dense, write_hf_dense, write_gguf_dense,
      validate_dense, tensors, [](const std::string& name) { return preset(name, "qwen3"); }, {}};
  return spec;
}

}  // namespace strata
