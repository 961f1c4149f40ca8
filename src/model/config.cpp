#include "model/config.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/arch.h"
#include "model/hf_config.h"

namespace strata {

namespace {

using nlohmann::json;

// eos_token_id may be one id or a list; the first is the model's eos.
int64_t first_id(const json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null() || (it->is_array() && it->empty())) return -1;
  const json& id = it->is_array() ? it->front() : *it;
  if (!id.is_number_integer()) fail("{}: key '{}' is not a token id ({})", source, key, it->dump());
  return id.get<int64_t>();
}

// rope_scaling (transformers' "type", or its newer "rope_type"): yarn, or none.
void read_rope_scaling(const HFConfigReader& hf, ModelConfig& c) {
  if (!hf.has("rope_scaling")) return;
  const json& j = hf.json()["rope_scaling"];
  const std::string source = hf.source() + " rope_scaling";
  if (!j.is_object()) fail("{}: not an object ({})", source, j.dump());
  const HFConfigReader r(j, source);
  const std::string type = r.get<std::string>("type", r.get<std::string>("rope_type", ""));
  if (type == "default") return;
  if (type != "yarn") fail("{}: rope_scaling type '{}' is not supported (yarn)", hf.source(), type);
  YarnScaling& y = c.rope_scaling;
  y.enabled = true;
  y.factor = r.required<double>("factor");
  y.original_max_position = r.required<int64_t>("original_max_position_embeddings");
  y.beta_fast = r.get<double>("beta_fast", 32.0);
  y.beta_slow = r.get<double>("beta_slow", 1.0);
  y.mscale = r.get<double>("mscale", 1.0);
  y.mscale_all_dim = r.get<double>("mscale_all_dim", 0.0);
}

}  // namespace

int64_t ModelConfig::kv_key_floats() const {
  return is_mla() ? kv_lora_rank + rope_dims() : num_key_value_heads * head_dim;
}

int64_t ModelConfig::kv_value_floats() const { return is_mla() ? 0 : num_key_value_heads * head_dim; }

int64_t ModelConfig::max_context_length() const {
  if (!rope_scaling.enabled) return max_position_embeddings;
  return int64_t(double(rope_scaling.original_max_position) * rope_scaling.factor);
}

bool ModelConfig::is_moe_layer(int64_t layer) const {
  if (num_experts <= 0 || decoder_sparse_step <= 0) return false;
  if (std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) != mlp_only_layers.end()) return false;
  return (layer + 1) % decoder_sparse_step == 0;
}

void ModelConfig::validate(const std::string& source) const {
  const ArchSpec& arch = arch_for_model_type(architecture, source);
  auto check_range = [&](const char* key, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) fail("{}: {} = {} is out of range [{}, {}]", source, key, v, lo, hi);
  };
  check_range("vocab_size", vocab_size, 1, 16'000'000);
  check_range("hidden_size", hidden_size, 1, 65536);
  check_range("num_hidden_layers", num_hidden_layers, 1, 1024);
  check_range("num_attention_heads", num_attention_heads, 1, 1024);
  check_range("num_key_value_heads", num_key_value_heads, 1, num_attention_heads);
  check_range("head_dim", head_dim, 2, 1024);
  check_range("max_position_embeddings", max_position_embeddings, 1, int64_t(1) << 24);
  const char* rope_key = rotary_dim > 0 ? "rotary_dim" : "head_dim";
  check_range(rope_key, rope_dims(), 2, head_dim);
  if (rope_dims() % 2 != 0) fail("{}: {} = {} must be even for rotary embeddings", source, rope_key, rope_dims());
  if (num_attention_heads % num_key_value_heads != 0) {
    fail("{}: num_attention_heads = {} is not a multiple of num_key_value_heads = {}", source,
         num_attention_heads, num_key_value_heads);
  }
  if (!(rms_norm_eps > 0 && rms_norm_eps < 1)) fail("{}: rms_norm_eps = {} must be in (0, 1)", source, rms_norm_eps);
  if (!(rope_theta > 0 && rope_theta < 1e12)) fail("{}: rope_theta = {} must be positive", source, rope_theta);
  if (num_experts != 0) {
    check_range("num_experts", num_experts, 1, 4096);
    check_range("num_experts_per_tok", num_experts_per_tok, 1, num_experts);
    check_range("moe_intermediate_size", moe_intermediate_size, 1, 1 << 20);
    check_range("decoder_sparse_step", decoder_sparse_step, 1, num_hidden_layers);
    check_range("n_group", n_group, 1, num_experts);
    check_range("topk_group", topk_group, 1, n_group);
    check_range("n_shared_experts", n_shared_experts, 0, 64);
    if (num_experts % n_group != 0) fail("{}: num_experts = {} is not a multiple of n_group = {}", source, num_experts, n_group);
    if (num_experts_per_tok > topk_group * (num_experts / n_group)) {
      fail("{}: num_experts_per_tok = {} exceeds the {} experts of topk_group = {} groups", source, num_experts_per_tok,
           topk_group * (num_experts / n_group), topk_group);
    }
    if (!(routed_scaling_factor > 0 && routed_scaling_factor < 1e6)) {
      fail("{}: routed_scaling_factor = {} must be positive", source, routed_scaling_factor);
    }
  }
  if (rope_scaling.enabled) {
    const YarnScaling& y = rope_scaling;
    if (!(y.factor >= 1.0 && y.factor < 1e6)) fail("{}: rope_scaling factor = {} must be >= 1", source, y.factor);
    check_range("rope_scaling original_max_position_embeddings", y.original_max_position, 1, max_position_embeddings);
    check_range("rope_scaling original_max_position_embeddings x factor", max_context_length(), 1, int64_t(1) << 24);
    if (!(y.beta_fast > 0 && y.beta_slow > 0)) {
      fail("{}: rope_scaling beta_fast = {} and beta_slow = {} must be positive", source, y.beta_fast, y.beta_slow);
    }
  }
  for (int64_t layer : mlp_only_layers) check_range("mlp_only_layers entry", layer, 0, num_hidden_layers - 1);
  for (int64_t layer = 0; layer < num_hidden_layers; ++layer) {
    if (!is_moe_layer(layer)) {
      check_range("intermediate_size", intermediate_size, 1, 1 << 20);
      break;
    }
  }
  arch.validate(*this, source);
}

ModelConfig ModelConfig::from_hf(const json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: config is not a JSON object", source);
  const HFConfigReader hf(j, source);
  ModelConfig c;
  c.architecture = hf.required<std::string>("model_type");
  const ArchSpec& arch = arch_for_model_type(c.architecture, source);
  c.vocab_size = hf.required<int64_t>("vocab_size");
  c.hidden_size = hf.required<int64_t>("hidden_size");
  c.num_hidden_layers = hf.required<int64_t>("num_hidden_layers");
  c.num_attention_heads = hf.required<int64_t>("num_attention_heads");
  c.num_key_value_heads = hf.get<int64_t>("num_key_value_heads", c.num_attention_heads);
  c.head_dim = hf.get<int64_t>("head_dim", c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
  c.intermediate_size = hf.get<int64_t>("intermediate_size", 0);
  c.rms_norm_eps = hf.get<double>("rms_norm_eps", 1e-6);
  c.rope_theta = hf.get<double>("rope_theta", 10000.0);
  c.max_position_embeddings = hf.get<int64_t>("max_position_embeddings", 32768);
  c.tie_word_embeddings = hf.get<bool>("tie_word_embeddings", false);
  c.bos_token_id = first_id(j, "bos_token_id", source);
  c.eos_token_id = first_id(j, "eos_token_id", source);
  read_rope_scaling(hf, c);
  arch.read_hf(hf, c);
  c.validate(source);
  return c;
}

ModelConfig ModelConfig::from_gguf(const GGUFFile& g) {
  const std::string source = g.describe();
  const ArchSpec& arch = arch_for_gguf(g.get_string("general.architecture"), source);
  const std::string p = std::string(arch.gguf_arch) + ".";
  ModelConfig c;
  c.architecture = std::string(arch.model_type);
  c.num_hidden_layers = g.get_int(p + "block_count");
  c.max_position_embeddings = g.get_int(p + "context_length", 32768);
  c.hidden_size = g.get_int(p + "embedding_length");
  c.intermediate_size = g.get_int(p + "feed_forward_length", 0);
  c.num_attention_heads = g.get_int(p + "attention.head_count");
  c.num_key_value_heads = g.get_int(p + "attention.head_count_kv", c.num_attention_heads);
  c.head_dim = g.get_int(p + "attention.key_length",
                         c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
  c.rotary_dim = g.get_int(p + "rope.dimension_count", 0);
  c.rope_theta = g.get_float(p + "rope.freq_base", 10000.0);
  c.rms_norm_eps = g.get_float(p + "attention.layer_norm_rms_epsilon");
  if (g.has("tokenizer.ggml.tokens")) {
    c.vocab_size = int64_t(g.get_strings("tokenizer.ggml.tokens").size());
  } else if (const TensorView* embd = g.find("token_embd.weight"); embd && embd->shape.size() == 2) {
    c.vocab_size = embd->shape[0];
  }
  c.tie_word_embeddings = g.find("output.weight") == nullptr;
  c.bos_token_id = g.get_int("tokenizer.ggml.bos_token_id", -1);
  c.eos_token_id = g.get_int("tokenizer.ggml.eos_token_id", -1);
  arch.read_gguf(g, c);
  c.validate(source);
  return c;
}

json ModelConfig::to_hf() const {
  const ArchSpec& arch = arch_of(*this);
  json j = {
      {"architectures", {arch.hf_class}},
      {"model_type", architecture},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", head_dim},
      {"intermediate_size", intermediate_size},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"max_position_embeddings", max_position_embeddings},
      {"tie_word_embeddings", tie_word_embeddings},
      {"hidden_act", "silu"},
      {"attention_bias", false},
  };
  if (rope_scaling.enabled) {
    const YarnScaling& y = rope_scaling;
    j["rope_scaling"] = {{"type", "yarn"},          {"factor", y.factor},
                         {"original_max_position_embeddings", y.original_max_position},
                         {"beta_fast", y.beta_fast}, {"beta_slow", y.beta_slow},
                         {"mscale", y.mscale},       {"mscale_all_dim", y.mscale_all_dim}};
  }
  arch.write_hf(*this, j);
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (eos_token_id >= 0) j["eos_token_id"] = eos_token_id;
  return j;
}

}  // namespace strata
