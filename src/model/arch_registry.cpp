// The registry of architectures, and the layer specs every architecture's
// config maps to.
#include <fmt/format.h>

#include "core/error.h"
#include "model/arch.h"

namespace strata {

// Defined by the model files.
const ArchSpec& qwen3_moe_arch();
const ArchSpec& qwen3_arch();
const ArchSpec& minimax_m2_arch();

const std::vector<const ArchSpec*>& registered_archs() {
  static const std::vector<const ArchSpec*> archs = {&qwen3_moe_arch(), &qwen3_arch(), &minimax_m2_arch()};
  return archs;
}

namespace {

template <typename Key>
const ArchSpec& find_arch(std::string_view name, Key key, const char* what, const std::string& source) {
  std::string known;
  for (const ArchSpec* a : registered_archs()) {
    if (key(*a) == name) return *a;
    known += (known.empty() ? "" : ", ") + std::string(key(*a));
  }
  fail("{}: unsupported {} '{}' (supported: {})", source, what, name, known);
}

}  // namespace

const ArchSpec& arch_for_model_type(std::string_view model_type, const std::string& source) {
  return find_arch(model_type, [](const ArchSpec& a) { return a.model_type; }, "architecture", source);
}

const ArchSpec& arch_for_gguf(std::string_view gguf_arch, const std::string& source) {
  return find_arch(gguf_arch, [](const ArchSpec& a) { return a.gguf_arch; }, "architecture", source);
}

const ArchSpec& arch_of(const ModelConfig& c) { return arch_for_model_type(c.architecture, "model config"); }

void add_token_embedding(TensorTable& t, const ModelConfig& c) {
  t.add(TensorRole::Embedding, "token_embd.weight", "model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
}

void add_attention_with_norms(TensorTable::Layer& l, const ModelConfig& c) {
  const int64_t H = c.hidden_size, q_dim = c.num_attention_heads * c.head_dim,
                kv_dim = c.num_key_value_heads * c.head_dim;
  using R = TensorRole;
  l.add(R::AttnNorm, "attn_norm.weight", "input_layernorm.weight", {H});
  l.add(R::Q, "attn_q.weight", "self_attn.q_proj.weight", {q_dim, H});
  l.add(R::K, "attn_k.weight", "self_attn.k_proj.weight", {kv_dim, H});
  l.add(R::V, "attn_v.weight", "self_attn.v_proj.weight", {kv_dim, H});
  l.add(R::O, "attn_output.weight", "self_attn.o_proj.weight", {H, q_dim});
  if (c.qk_norm != QkNorm::None) {
    const bool whole = c.qk_norm == QkNorm::Full;
    l.add(R::QNorm, "attn_q_norm.weight", "self_attn.q_norm.weight", {whole ? q_dim : c.head_dim});
    l.add(R::KNorm, "attn_k_norm.weight", "self_attn.k_norm.weight", {whole ? kv_dim : c.head_dim});
  }
  l.add(R::FfnNorm, "ffn_norm.weight", "post_attention_layernorm.weight", {H});
}

void add_output(TensorTable& t, const ModelConfig& c, bool gguf_needs_output) {
  t.add(TensorRole::FinalNorm, "output_norm.weight", "model.norm.weight", {c.hidden_size});
  if (!c.tie_word_embeddings) {
    t.add(TensorRole::LmHead, "output.weight", "lm_head.weight", {c.vocab_size, c.hidden_size});
  } else if (gguf_needs_output) {
    t.add_tied_lm_head({c.vocab_size, c.hidden_size});
  }
}

LayerSpec layer_spec(const ModelConfig& c, int64_t layer) {
  LayerSpec s{};
  s.attention = {c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rope_dims(), c.rope_interleaved,
                 c.qk_norm, float(c.rope_theta), float(c.rms_norm_eps)};
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
