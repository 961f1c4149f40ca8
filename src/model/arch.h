#pragma once
// Architectures are registered specs. Each model file (qwen3_moe.cpp,
// minimax_m2.cpp, ...) defines one ArchSpec: the config fields it reads from
// config.json and GGUF metadata beyond the common ones, its tensor table, its
// synth presets; arch_registry.cpp lists them. Layers are built from the
// config by layer_spec() over shared parameterized blocks (model/blocks/),
// so adding an architecture is one file plus its line in the registry, and
// nothing else compares model_type strings.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/config.h"
#include "model/tensor_table.h"

namespace strata {

class GGUFFile;
class GGUFWriter;
class HFConfigReader;

struct ArchSpec {
  std::string_view model_type;  // HF config.json "model_type"
  std::string_view hf_class;    // HF "architectures"[0]
  std::string_view gguf_arch;   // GGUF general.architecture; its keys are "<gguf_arch>.<key>"
  // The architecture's own fields; the common ones (sizes, heads, norms,
  // RoPE theta, ids) are already set when these run.
  void (*read_hf)(const HFConfigReader& hf, ModelConfig& c);
  void (*read_gguf)(const GGUFFile& gguf, ModelConfig& c);
  void (*write_hf)(const ModelConfig& c, nlohmann::json& config);
  void (*write_gguf)(const ModelConfig& c, GGUFWriter& w);
  // Checks beyond the common ones; throws Error naming `source`.
  void (*validate)(const ModelConfig& c, const std::string& source);
  std::vector<TensorSpec> (*tensors)(const ModelConfig& c);
  // `strata synth` shapes by preset name; throws Error listing the known ones.
  ModelConfig (*preset)(const std::string& name);
  // compressed-tensors `ignore` when only the routed experts are INT4.
  std::vector<std::string> int4_ignore;
  // A compressed-tensors target ("re:" regex) naming the routed experts'
  // linear modules: what `strata quantize` quantizes by default (empty: none).
  std::string_view routed_experts;
};

// The registered architectures, in the order error messages list them.
const std::vector<const ArchSpec*>& registered_archs();
// Throws Error naming `source` and listing the supported ones when unknown.
const ArchSpec& arch_for_model_type(std::string_view model_type, const std::string& source);
const ArchSpec& arch_for_gguf(std::string_view gguf_arch, const std::string& source);
const ArchSpec& arch_of(const ModelConfig& c);

// Table pieces the llama-style architectures share (their HF and GGUF names).
// The token embedding [vocab, hidden].
void add_token_embedding(TensorTable& t, const ModelConfig& c);
// A layer's attention with the layer's two pre-norms: attn_norm, q/k/v/o, the
// q/k norms c.qk_norm asks for ([head_dim] per head, [heads * head_dim]
// whole), then ffn_norm.
void add_attention_with_norms(TensorTable::Layer& l, const ModelConfig& c);
// The final norm and the LM head; a tied head is written to GGUF as
// output.weight only when `gguf_needs_output` (llama.cpp requires it).
void add_output(TensorTable& t, const ModelConfig& c, bool gguf_needs_output);

// The blocks of decoder layer `layer`, from the config.
struct AttentionSpec {
  int64_t n_heads, n_kv_heads, head_dim, rotary_dim;
  bool rope_interleaved;  // GPT-J pairing, else NeoX
  QkNorm qk_norm;
  float rope_theta, eps;
};
struct RouterSpec {
  RouterScoring scoring;
  bool correction_bias, renormalize;
  float routed_scale;
  int64_t n_experts, top_k, n_group, topk_group;
};
struct MoeSpec {
  RouterSpec router;
  int64_t expert_ffn, shared_ffn;  // shared_ffn 0: no shared expert
};
struct LayerSpec {
  AttentionSpec attention;
  bool moe;
  MoeSpec experts;  // when moe; else the layer's MLP is dense
};
LayerSpec layer_spec(const ModelConfig& c, int64_t layer);

}  // namespace strata
