#pragma once
// What the cost model needs to know about a model: its shapes and the bytes
// of weights each part reads. Built in for the layered-prefill paper's models
// (BF16, as the paper ran them), or read from a local Hugging Face folder
// (config.json, plus the stored tensors' real byte sizes when present, so an
// INT4 checkpoint is costed as INT4).
#include <cstdint>
#include <string>

namespace strata {
struct ModelConfig;
}

namespace strata::sim {

struct SimModel {
  std::string name;
  int64_t num_layers = 0;
  int64_t hidden = 0;
  int64_t num_q_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t num_experts = 0, top_k = 0;  // 0 experts: every layer is dense
  int64_t expert_ffn = 0;              // intermediate size of one routed expert
  int64_t dense_ffn = 0;               // intermediate size of dense MLP layers
  int64_t vocab = 0;
  int64_t moe_layer_step = 1;          // layer l is MoE when (l + 1) % step == 0 (HF decoder_sparse_step)
  int32_t default_stages = 16;         // G the paper used for this model

  // Bytes of stored weights, per layer unless said otherwise.
  double attn_bytes = 0;    // q, k, v, o projections (and norms)
  double router_bytes = 0;  // the MoE gate
  double expert_bytes = 0;  // one routed expert (gate, up, down)
  double dense_mlp_bytes = 0;
  double lm_head_bytes = 0;  // whole model
  double embed_bytes = 0;    // whole model (only counted for memory)
  double kv_bytes_per_element = 2;  // BF16 KV cache

  int64_t q_dim() const { return num_q_heads * head_dim; }
  int64_t kv_dim() const { return num_kv_heads * head_dim; }
  int64_t attn_params() const { return 2 * hidden * q_dim() + 2 * hidden * kv_dim(); }
  int64_t expert_params() const { return 3 * hidden * expert_ffn; }
  int64_t dense_mlp_params() const { return 3 * hidden * dense_ffn; }
  bool is_moe_layer(int64_t layer) const { return num_experts > 0 && (layer + 1) % moe_layer_step == 0; }
  // KV cache bytes one token takes across all layers.
  double kv_bytes_per_token() const { return double(2 * kv_dim() * num_layers) * kv_bytes_per_element; }
  double total_weight_bytes() const;
};

// "qwen3-30b-a3b" or "gpt-oss-20b"; throws Error otherwise.
SimModel builtin_sim_model(const std::string& name);
// From a parsed config alone, BF16 sizes (e.g. a GGUF model's, whose
// quantized sizes a fitted profile's rates absorb).
SimModel sim_model_from_config(const ModelConfig& config, const std::string& name);
// A Hugging Face folder (config.json; tensor sizes from its safetensors when
// present, else BF16 sizes from the config).
SimModel sim_model_from_folder(const std::string& dir);
// A built-in name, else a folder path.
SimModel resolve_sim_model(const std::string& name_or_dir);

}  // namespace strata::sim
