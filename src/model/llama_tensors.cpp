#include "model/llama_tensors.h"

namespace strata {

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

void add_dense_mlp(TensorTable::Layer& l, const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  using R = TensorRole;
  l.add(R::MlpGate, "ffn_gate.weight", "mlp.gate_proj.weight", {I, H});
  l.add(R::MlpUp, "ffn_up.weight", "mlp.up_proj.weight", {I, H});
  l.add(R::MlpDown, "ffn_down.weight", "mlp.down_proj.weight", {H, I});
}

void add_routed_experts(TensorTable::Layer& l, const ModelConfig& c) {
  const int64_t H = c.hidden_size, E = c.num_experts, F = c.moe_intermediate_size;
  using R = TensorRole;
  l.experts(R::ExpertGate, "ffn_gate_exps.weight", "mlp.experts.", "gate_proj.weight", E, {F, H});
  l.experts(R::ExpertUp, "ffn_up_exps.weight", "mlp.experts.", "up_proj.weight", E, {F, H});
  l.experts(R::ExpertDown, "ffn_down_exps.weight", "mlp.experts.", "down_proj.weight", E, {H, F});
}

void add_output(TensorTable& t, const ModelConfig& c, bool gguf_needs_output) {
  t.add(TensorRole::FinalNorm, "output_norm.weight", "model.norm.weight", {c.hidden_size});
  if (!c.tie_word_embeddings) {
    t.add(TensorRole::LmHead, "output.weight", "lm_head.weight", {c.vocab_size, c.hidden_size});
  } else if (gguf_needs_output) {
    t.add_tied_lm_head({c.vocab_size, c.hidden_size});
  }
}

}  // namespace strata
