// A Hugging Face checkpoint: config.json (model shapes, compressed-tensors
// and FP8 quantization_config) NUL-joined to a safetensors file; the
// quantized modules the config names are then loaded from the file.
// Only strata::Error may escape a rejected input.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/compressed_tensors.h"
#include "formats/fp8_block.h"
#include "formats/safetensors.h"
#include "input_parts.h"
#include "kernels/fp8_matrix.h"
#include "kernels/int4_matrix.h"
#include "model/config.h"
#include "scratch_file.h"
#include "touch_tensors.h"

using namespace strata;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void load_quantized(const TensorSource& src, const std::optional<CompressedTensorsConfig>& int4,
                    const std::optional<Fp8BlockConfig>& fp8) {
  for (const auto& [name, t] : src.tensors()) {
    try {
      if (int4 && ends_with(name, ".weight_packed") && t.shape.size() == 2) {
        const std::string module = name.substr(0, name.size() - 14);
        if (int4->quantizes(module)) load_compressed_int4(src, module, t.shape[0], t.shape[1] * 8);
      }
      if (fp8 && ends_with(name, ".weight") && t.shape.size() == 2) {
        const std::string module = name.substr(0, name.size() - 7);
        if (fp8->quantizes(src, module)) load_fp8_block(src, module, t.shape[0], t.shape[1]);
      }
    } catch (const Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = fuzz::split_parts(data, size, 2);
  if (parts.size() != 2) return 0;
  std::optional<CompressedTensorsConfig> int4;
  std::optional<Fp8BlockConfig> fp8;
  const nlohmann::json config = nlohmann::json::parse(parts[0], nullptr, false);
  if (!config.is_discarded()) {
    try {
      ModelConfig::from_hf(config, "config.json");
    } catch (const Error&) {
    }
    try {
      fp8 = Fp8BlockConfig::from_hf(config, "config.json");
      if (!fp8) int4 = CompressedTensorsConfig::from_hf(config, "config.json");
    } catch (const Error&) {
    }
  }
  const std::string path = fuzz::write_scratch("model.safetensors", parts[1]);
  try {
    SafetensorsFile file(path);
    fuzz::touch_tensors(file);
    load_quantized(file, int4, fp8);
  } catch (const Error&) {
  }
  return 0;
}
