#pragma once
// Architectures are registered specs. Each model file (qwen3_moe.cpp,
// minimax_m2.cpp, ...) defines one ArchSpec: the config fields it reads from
// config.json and GGUF metadata beyond the common ones, its tensor table, its
// synth presets; arch_registry.cpp lists them. Layers are built from the
// config by layer_spec() (model/layer_spec.h) over shared parameterized blocks (model/blocks/),
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
  // compressed-tensors `ignore` with every Linear targeted when only the
  // routed experts are INT4 (what synth writes and quantize does by default).
  std::vector<std::string> int4_ignore;
  // Whether GGUF (llama.cpp) can hold dense layers before the MoE ones.
  bool gguf_leading_dense_layers = false;
};

// The registered architectures, in the order error messages list them.
const std::vector<const ArchSpec*>& registered_archs();
// Throws Error naming `source` and listing the supported ones when unknown.
const ArchSpec& arch_for_model_type(std::string_view model_type, const std::string& source);
const ArchSpec& arch_for_gguf(std::string_view gguf_arch, const std::string& source);
const ArchSpec& arch_of(const ModelConfig& c);

}  // namespace strata
