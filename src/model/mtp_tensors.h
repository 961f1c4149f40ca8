#pragma once
// The tensors of a checkpoint's multi-token-prediction (MTP) modules, which
// speculative decoding's `mtp` method runs (engine/mtp_proposer.h). Module i
// is HF decoder layer num_hidden_layers + i, as in DeepSeek-V3
// (model.layers.61 of 61 layers) and as vLLM's minimax_m2 loader skips
// MiniMax-M2's (model.layers.62-64):
//
//   x = eh_proj [enorm(embed(next token)); hnorm(previous hidden state)]
//   x = decoder block(x)                      (the architecture's own layer)
//   logits = head(head_norm(x))
//
// enorm, hnorm [hidden], eh_proj [hidden, 2 * hidden] and the block carry
// DeepSeek-V3's names (model.layers.N.{enorm,hnorm,eh_proj}.weight); the
// head is DeepSeek's model.layers.N.shared_head.{norm,head}.weight when
// `own_head`, else the target's final norm and LM head. The token embedding
// is always the target's (DeepSeek-V3 stores a copy as
// model.layers.N.embed_tokens.weight, which is not read).
//
// MiniMax-M2: its config declares use_mtp, num_mtp_modules 3 and
// mtp_transformer_layers 1, but the published checkpoints (M2 to M2.7) ship
// no MTP tensors, and no public loader names them in model.layers.62-64 (an
// unmerged SGLang port reads model.mtp_layers.i.{e_norm,h_norm,
// linear_projection} and concatenates the hidden state first). Where the
// sources are silent, strata takes DeepSeek-V3's names and input order, one
// MiniMax-M2 decoder layer as the block, and the target's norm and LM head
// as the head (what that port shares too).
//
// The entries are HF-only: llama.cpp's minimax-m2 has no MTP tensors, and
// strata does not load deepseek2 GGUF nextn tensors.
#include <functional>

#include "model/config.h"
#include "model/tensor_table.h"

namespace strata {

// Adds c.num_mtp_modules modules, each block's tensors by `add_block`
// (called with the module's layer and its index).
void add_mtp_modules(TensorTable& t, const ModelConfig& c, bool own_head,
                     const std::function<void(TensorTable::Layer&, int64_t)>& add_block);

}  // namespace strata
