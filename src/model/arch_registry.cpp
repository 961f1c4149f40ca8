// The registry of architectures.
#include <fmt/format.h>

#include "core/error.h"
#include "model/arch.h"

namespace strata {

// Defined by the model files.
const ArchSpec& qwen3_moe_arch();
const ArchSpec& qwen3_arch();
const ArchSpec& minimax_m2_arch();
const ArchSpec& deepseek_v3_arch();
const ArchSpec& kimi_k2_arch();

const std::vector<const ArchSpec*>& registered_archs() {
  static const std::vector<const ArchSpec*> archs = {&qwen3_moe_arch(), &qwen3_arch(), &minimax_m2_arch(),
                                                       &deepseek_v3_arch(), &kimi_k2_arch()};
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

}  // namespace strata
