#pragma once
// Hyper-parameters of a decoder model, read from a Hugging Face config.json
// or from GGUF metadata. Field names follow config.json where one exists; the
// architecture (model/arch.h) decides which fields it reads and how its layers
// use them, so nothing outside model/ compares `architecture` strings.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/yarn_rope.h"

namespace strata {

class GGUFFile;

// How q and k are RMS-normalised before RoPE: not at all, per head (Qwen3,
// weight [head_dim]) or over the whole projection before the head split
// (MiniMax-M2, weight [heads * head_dim]).
enum class QkNorm : uint8_t { None, PerHead, Full };
// Router scores: softmax over all experts (Qwen3) or an independent sigmoid
// per expert (MiniMax-M2, DeepSeek-V3).
enum class RouterScoring : uint8_t { Softmax, Sigmoid };

struct ModelConfig {
  std::string architecture;       // the HF model_type of a registered architecture (model/arch.h)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;      // dense MLP layers
  int64_t moe_intermediate_size = 0;  // each routed expert
  int64_t num_experts = 0;            // 0 for dense qwen3
  int64_t num_experts_per_tok = 0;
  bool norm_topk_prob = true;
  RouterScoring router_scoring = RouterScoring::Softmax;
  bool router_correction_bias = false;  // e_score_correction_bias, added for selection only
  double routed_scaling_factor = 1.0;
  int64_t n_group = 1, topk_group = 1;  // grouped top-k: pick topk_group groups, then experts in them
  int64_t n_shared_experts = 0;         // each of moe_intermediate_size, always on
  int64_t num_mtp_modules = 0;          // multi-token-prediction layers after the decoder (not run)
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  int64_t rotary_dim = 0;  // leading dims of each head RoPE rotates; head_dim when 0
  bool rope_interleaved = false;  // GPT-J pairs (2i, 2i+1) instead of NeoX's (i, i + rotary_dim/2)
  QkNorm qk_norm = QkNorm::PerHead;
  YarnScaling rope_scaling;  // HF rope_scaling of type yarn (DeepSeek's variant); off by default
  // Multi-head latent attention (DeepSeek-V2/V3) when kv_lora_rank > 0: q and
  // k heads are qk_nope_head_dim + rotary_dim (= head_dim) wide, values
  // v_head_dim, and the cache keeps one latent row per token (model/blocks/mla_block.h).
  int64_t q_lora_rank = 0;  // 0: q is one projection of the hidden state (V2-Lite)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0, v_head_dim = 0;
  int64_t max_position_embeddings = 40960;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1, eos_token_id = -1;

  // Whether decoder layer `layer` uses routed experts (else the dense MLP).
  bool is_moe_layer(int64_t layer) const;
  int64_t rope_dims() const { return rotary_dim > 0 ? rotary_dim : head_dim; }
  // The longest context the model serves: with YaRN, what the scaling
  // reaches (original_max_position_embeddings x factor, as vLLM derives
  // it; K2: 4096 x 64 = 262144), else max_position_embeddings.
  int64_t max_context_length() const;
  bool is_mla() const { return kv_lora_rank > 0; }
  // Floats the KV cache keeps per token per layer: GQA keys then as many
  // values; MLA one latent row (kv_lora_rank + rotary dims) whose first
  // kv_lora_rank floats double as the value (kv_value_floats() is then 0).
  int64_t kv_key_floats() const;
  int64_t kv_value_floats() const;
  // Throws Error naming `source` for missing, non-positive or absurd values
  // and unknown architectures (the message lists the supported ones).
  void validate(const std::string& source) const;

  static ModelConfig from_hf(const nlohmann::json& config, const std::string& source);
  static ModelConfig from_gguf(const GGUFFile& gguf);
  nlohmann::json to_hf() const;
};

}  // namespace strata
