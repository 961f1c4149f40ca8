#include "sim/sim_model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/hf_folder.h"
#include "model/arch.h"
#include "model/config.h"

namespace strata::sim {

namespace {

constexpr double kBf16 = 2;

// BF16 byte sizes from the shapes alone.
void set_bf16_bytes(SimModel& m) {
  m.attn_bytes = double(m.attn_params()) * kBf16;
  m.router_bytes = double(m.hidden * m.num_experts) * kBf16;
  m.expert_bytes = double(m.expert_params()) * kBf16;
  m.dense_mlp_bytes = double(m.dense_mlp_params()) * kBf16;
  m.lm_head_bytes = double(m.vocab * m.hidden) * kBf16;
  m.embed_bytes = m.lm_head_bytes;
}

double bytes_under(const TensorSource& source, const std::string& prefix) {
  double total = 0;
  for (auto it = source.tensors().lower_bound(prefix);
       it != source.tensors().end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    total += double(it->second.nbytes);
  }
  return total;
}

// Bytes the checkpoint stores for the table's tensors of `roles` in `layer`
// (every file tensor of each module: weight, INT4 words and scales, ...).
double stored_bytes(const TensorSource& source, const std::vector<TensorSpec>& table, int64_t layer,
                    std::initializer_list<TensorRole> roles) {
  double total = 0;
  for (const TensorSpec& t : table) {
    if (t.layer != layer || t.gguf_only || std::find(roles.begin(), roles.end(), t.role) == roles.end()) continue;
    for (const HFPart& p : t.parts) {
      // "X.weight" -> every file tensor of module X ("X.weight_packed", ...).
      total += bytes_under(source, p.name.ends_with(".weight") ? p.name.substr(0, p.name.size() - 6) : p.name);
    }
  }
  return total;
}

// Replaces the BF16 estimates with the sizes the checkpoint really stores.
void set_stored_bytes(SimModel& m, const ModelConfig& c, const HFFolder& folder) {
  int64_t moe_layer = -1, dense_layer = -1;
  for (int64_t l = 0; l < m.num_layers; ++l) {
    if (m.is_moe_layer(l) && moe_layer < 0) moe_layer = l;
    if (!m.is_moe_layer(l) && dense_layer < 0) dense_layer = l;
  }
  const std::vector<TensorSpec> table = arch_of(c).tensors(c);
  using R = TensorRole;
  const int64_t any_layer = moe_layer >= 0 ? moe_layer : dense_layer;
  m.attn_bytes = stored_bytes(folder, table, any_layer, {R::Q, R::K, R::V, R::O, R::QNorm, R::KNorm, R::QA, R::QANorm,
                                                               R::QB, R::KvA, R::KvANorm, R::KvB});
  if (moe_layer >= 0) {
    m.router_bytes = stored_bytes(folder, table, moe_layer, {R::Router, R::RouterBias});
    m.expert_bytes = stored_bytes(folder, table, moe_layer, {R::ExpertGate, R::ExpertUp, R::ExpertDown}) /
                     double(m.num_experts);
  }
  if (dense_layer >= 0) m.dense_mlp_bytes = stored_bytes(folder, table, dense_layer, {R::MlpGate, R::MlpUp, R::MlpDown});
  m.embed_bytes = stored_bytes(folder, table, -1, {R::Embedding});
  const double lm_head = stored_bytes(folder, table, -1, {R::LmHead});
  m.lm_head_bytes = lm_head > 0 ? lm_head : m.embed_bytes;  // tied embeddings
  if (m.attn_bytes <= 0 || (moe_layer >= 0 && m.expert_bytes <= 0))
    fail("{}: no attention or expert tensors in layer {}", folder.describe(), any_layer);
}

}  // namespace

double SimModel::total_weight_bytes() const {
  double total = embed_bytes + lm_head_bytes;
  for (int64_t l = 0; l < num_layers; ++l) {
    total += attn_bytes + (is_moe_layer(l) ? router_bytes + double(num_experts) * expert_bytes : dense_mlp_bytes);
  }
  return total;
}

SimModel builtin_sim_model(const std::string& name) {
  SimModel m;
  m.name = name;
  if (name == "qwen3-30b-a3b") {
    // Qwen/Qwen3-30B-A3B config.json.
    m.num_layers = 48, m.hidden = 2048, m.num_q_heads = 32, m.num_kv_heads = 4, m.head_dim = 128;
    m.num_experts = 128, m.top_k = 8, m.expert_ffn = 768, m.dense_ffn = 6144, m.vocab = 151936;
    m.default_stages = 16;
  } else if (name == "gpt-oss-20b") {
    // openai/gpt-oss-20b config.json. The release stores experts as MXFP4;
    // the paper served it in BF16, and so do we.
    m.num_layers = 24, m.hidden = 2880, m.num_q_heads = 64, m.num_kv_heads = 8, m.head_dim = 64;
    m.num_experts = 32, m.top_k = 4, m.expert_ffn = 2880, m.dense_ffn = 2880, m.vocab = 201088;
    m.default_stages = 12;
  } else {
    fail("unknown model '{}' (built in: qwen3-30b-a3b, gpt-oss-20b; or a Hugging Face folder)", name);
  }
  set_bf16_bytes(m);
  return m;
}

SimModel sim_model_from_config(const ModelConfig& c, const std::string& name) {
  SimModel m;
  m.name = name;
  m.num_layers = c.num_hidden_layers, m.hidden = c.hidden_size;
  m.num_q_heads = c.num_attention_heads, m.num_kv_heads = c.num_key_value_heads, m.head_dim = c.head_dim;
  m.num_experts = c.num_experts, m.top_k = c.num_experts_per_tok, m.expert_ffn = c.moe_intermediate_size;
  m.dense_ffn = c.intermediate_size, m.vocab = c.vocab_size;
  m.moe_layer_step = std::max<int64_t>(1, c.decoder_sparse_step);
  m.default_stages = int32_t(std::min<int64_t>(16, c.num_hidden_layers));
  set_bf16_bytes(m);
  return m;
}

SimModel sim_model_from_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string config_path = dir + "/config.json";
  std::ifstream in(config_path);
  if (!in) fail("{}: cannot open (not a built-in model name nor a model folder)", config_path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON ({})", config_path, e.what());
  }
  const ModelConfig c = ModelConfig::from_hf(j, config_path);
  std::string name = fs::path(dir).filename().string();
  if (name.empty()) name = fs::path(dir).parent_path().filename().string();
  if (!c.mlp_only_layers.empty())
    fail("{}: mlp_only_layers is not modelled by the simulator", config_path);
  SimModel m = sim_model_from_config(c, name);
  if (fs::exists(dir + "/model.safetensors") || fs::exists(dir + "/model.safetensors.index.json")) {
    set_stored_bytes(m, c, HFFolder(dir));
  }
  return m;
}

SimModel resolve_sim_model(const std::string& name_or_dir) {
  if (name_or_dir == "qwen3-30b-a3b" || name_or_dir == "gpt-oss-20b") return builtin_sim_model(name_or_dir);
  return sim_model_from_folder(name_or_dir);
}

}  // namespace strata::sim
