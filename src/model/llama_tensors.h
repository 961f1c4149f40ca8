#pragma once
// Tensor-table pieces the llama-style architectures share, with their HF
// names (model.layers.N.self_attn.q_proj, ...) and GGUF names (blk.N.attn_q,
// ...), for the architecture files' tables.
#include "model/config.h"
#include "model/tensor_table.h"

namespace strata {

// The token embedding [vocab, hidden].
void add_token_embedding(TensorTable& t, const ModelConfig& c);
// A layer's attention with the layer's two pre-norms: attn_norm, q/k/v/o, the
// q/k norms c.qk_norm asks for ([head_dim] per head, [heads * head_dim]
// whole), then ffn_norm.
void add_attention_with_norms(TensorTable::Layer& l, const ModelConfig& c);
// A dense SwiGLU MLP: ffn_{gate,up,down} / mlp.{gate,up,down}_proj.
void add_dense_mlp(TensorTable::Layer& l, const ModelConfig& c);
// The routed experts ffn_{gate,up,down}_exps / mlp.experts.E.{gate,up,down}_proj,
// after the router given (ffn_gate_inp / mlp.gate).
void add_routed_experts(TensorTable::Layer& l, const ModelConfig& c);
// The final norm and the LM head; a tied head is written to GGUF as
// output.weight only when `gguf_needs_output` (llama.cpp requires it).
void add_output(TensorTable& t, const ModelConfig& c, bool gguf_needs_output);

}  // namespace strata
