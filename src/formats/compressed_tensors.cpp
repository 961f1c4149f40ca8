#include "formats/compressed_tensors.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "kernels/int4_matrix.h"

namespace strata {

namespace {

constexpr int64_t kGroup = 32;

bool name_matches(const std::string& pattern, const std::string& module) {
  if (pattern.rfind("re:", 0) == 0) {
    // Python's re.match: anchored at the start, not at the end.
    return std::regex_search(module, std::regex(pattern.substr(3)), std::regex_constants::match_continuous);
  }
  return pattern == module || pattern == "Linear";
}

// libstdc++ 12 reads a back-reference number or a repeat count into a long
// without an overflow check (undefined behaviour on \5555555555555555555,
// found by fuzzing config.json). So neither reaches std::regex unbounded:
// back-references are refused (module names never need them), and repeat
// counts may have at most 6 digits (std::regex refuses anything that large
// anyway, as past its state limit). Returns what is wrong, or "".
std::string unsupported_in_pattern(const std::string& pattern) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      if (i + 1 < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[i + 1]))) {
        return "back-references are not supported";
      }
      ++i;  // the escaped character is a literal, even '{'
    } else if (pattern[i] == '{') {
      size_t digits = 0;
      for (size_t k = i + 1; k < pattern.size() && pattern[k] != '}'; ++k) {
        digits = std::isdigit(static_cast<unsigned char>(pattern[k])) ? digits + 1 : 0;
        if (digits > 6) return "a repeat count over 6 digits";
      }
    }
  }
  return "";
}

std::vector<std::string> string_list(const nlohmann::json& j, const std::string& source, const char* key) {
  if (j.is_null()) return {};
  if (!j.is_array()) fail("{}: quantization_config.{} is not a list", source, key);
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string()) fail("{}: quantization_config.{} holds a non-string", source, key);
    out.push_back(v.get<std::string>());
    if (out.back().rfind("re:", 0) == 0) {
      if (const std::string why = unsupported_in_pattern(out.back().substr(3)); !why.empty()) {
        fail("{}: quantization_config.{}: regex '{}': {}", source, key, out.back(), why);
      }
      try {
        std::regex check(out.back().substr(3));
      } catch (const std::regex_error& e) {
        fail("{}: quantization_config.{}: bad regex '{}': {}", source, key, out.back(), e.what());
      }
    }
  }
  return out;
}

}  // namespace

bool CompressedTensorsConfig::quantizes(const std::string& module) const {
  bool targeted = false;
  for (const auto& t : targets) targeted = targeted || name_matches(t, module);
  if (!targeted) return false;
  for (const auto& i : ignore)
    if (name_matches(i, module)) return false;
  return true;
}

std::optional<CompressedTensorsConfig> CompressedTensorsConfig::from_hf(const nlohmann::json& config,
                                                                       const std::string& source) {
  auto it = config.find("quantization_config");
  if (it == config.end() || it->is_null()) return std::nullopt;
  const nlohmann::json& q = *it;
  auto str = [&](const nlohmann::json& obj, const char* key, const char* where) {
    auto v = obj.find(key);
    if (v == obj.end() || !v->is_string()) fail("{}: {}.{} is missing or not a string", source, where, key);
    return v->get<std::string>();
  };
  if (!q.is_object()) fail("{}: quantization_config is not an object", source);
  if (str(q, "quant_method", "quantization_config") != "compressed-tensors") {
    fail("{}: quantization_config.quant_method '{}' is not supported (only compressed-tensors)", source,
         q["quant_method"].get<std::string>());
  }
  const std::string format = str(q, "format", "quantization_config");
  if (format != "pack-quantized") fail("{}: quantization_config.format '{}' is not supported (only pack-quantized)", source, format);
  auto groups = q.find("config_groups");
  if (groups == q.end() || !groups->is_object() || groups->empty()) fail("{}: quantization_config.config_groups is missing or empty", source);
  CompressedTensorsConfig out;
  for (const auto& [name, group] : groups->items()) {
    const std::string where = "quantization_config.config_groups." + name;
    if (!group.is_object()) fail("{}: {} is not an object", source, where);
    auto w = group.find("weights");
    if (w == group.end() || !w->is_object()) fail("{}: {}.weights is missing", source, where);
    auto get = [&](const char* key) {
      auto v = w->find(key);
      if (v == w->end()) fail("{}: {}.weights.{} is missing", source, where, key);
      return *v;
    };
    if (get("num_bits") != 4) fail("{}: {}.weights.num_bits {} is not supported (only 4)", source, where, get("num_bits").dump());
    if (get("type") != "int") fail("{}: {}.weights.type {} is not supported (only int)", source, where, get("type").dump());
    if (get("symmetric") != true) fail("{}: {}.weights.symmetric must be true (asymmetric is not supported)", source, where);
    if (get("strategy") != "group") fail("{}: {}.weights.strategy {} is not supported (only group)", source, where, get("strategy").dump());
    if (get("group_size") != kGroup) fail("{}: {}.weights.group_size {} is not supported (only 32)", source, where, get("group_size").dump());
    auto act = group.find("input_activations");
    if (act != group.end() && !act->is_null()) fail("{}: {}.input_activations are not supported (weight-only INT4 only)", source, where);
    if (group.contains("format") && !group["format"].is_null() && group["format"] != "pack-quantized") {
      fail("{}: {}.format {} is not supported (only pack-quantized)", source, where, group["format"].dump());
    }
    const auto targets = string_list(group.value("targets", nlohmann::json()), source, (where + ".targets").c_str());
    out.targets.insert(out.targets.end(), targets.begin(), targets.end());
  }
  out.ignore = string_list(q.value("ignore", nlohmann::json()), source, "ignore");
  return out;
}

nlohmann::json CompressedTensorsConfig::to_json() const {
  return {{"quant_method", "compressed-tensors"},
          {"format", "pack-quantized"},
          {"quantization_status", "compressed"},
          {"config_groups",
           {{"group_0",
             {{"targets", targets},
              {"weights",
               {{"num_bits", 4}, {"type", "int"}, {"symmetric", true}, {"strategy", "group"}, {"group_size", kGroup},
                {"dynamic", false}}},
              {"input_activations", nullptr},
              {"output_activations", nullptr}}}}},
          {"ignore", ignore}};
}

Int4Matrix load_compressed_int4(const TensorSource& src, const std::string& module, int64_t rows, int64_t cols) {
  const TensorView& packed = src.get(module + ".weight_packed");
  const TensorView& scale = src.get(module + ".weight_scale");
  const TensorView& shape = src.get(module + ".weight_shape");
  if (shape.shape != std::vector<int64_t>{2} || (shape.dtype != DType::I32 && shape.dtype != DType::I64)) {
    fail("{}: tensor '{}' should be int32/int64 [2], is {} {}", shape.file, shape.name, dtype_name(shape.dtype), shape.shape_str());
  }
  int64_t dims[2];
  for (int i = 0; i < 2; ++i) {
    if (shape.dtype == DType::I64) {
      std::memcpy(&dims[i], shape.data + 8 * i, 8);
    } else {
      int32_t v;
      std::memcpy(&v, shape.data + 4 * i, 4);
      dims[i] = v;
    }
  }
  if (dims[0] != rows || dims[1] != cols) {
    fail("{}: tensor '{}' says [{}, {}], the model expects [{}, {}]", shape.file, shape.name, dims[0], dims[1], rows, cols);
  }
  if (cols % kGroup != 0) fail("{}: module '{}' has {} input features, not a multiple of the group size 32", shape.file, module, cols);
  if (packed.dtype != DType::I32 || packed.shape != std::vector<int64_t>{rows, cols / 8}) {
    fail("{}: tensor '{}' is {} {}, weight_shape [{}, {}] needs I32 [{}, {}]", packed.file, packed.name,
         dtype_name(packed.dtype), packed.shape_str(), rows, cols, rows, cols / 8);
  }
  if (scale.dtype != DType::BF16 && scale.dtype != DType::F16) {
    fail("{}: tensor '{}' has dtype {}, expected BF16 or F16", scale.file, scale.name, dtype_name(scale.dtype));
  }
  if (scale.shape.size() != 2 || scale.shape[0] != rows) {
    fail("{}: tensor '{}' has shape {}, expected [{}, {}]", scale.file, scale.name, scale.shape_str(), rows, cols / kGroup);
  }
  if (scale.shape[1] != cols / kGroup) {
    fail("{}: tensor '{}' has {} scales per row for {} columns: group size {} is not supported (only 32)", scale.file,
         scale.name, scale.shape[1], cols, scale.shape[1] > 0 && cols % scale.shape[1] == 0 ? cols / scale.shape[1] : 0);
  }
  // The tensors are used in place when aligned for their element type (as
  // safetensors writers usually leave them), else copied.
  std::vector<uint16_t> scale_copy;
  const uint16_t* scales = reinterpret_cast<const uint16_t*>(scale.data);
  if (reinterpret_cast<uintptr_t>(scale.data) % alignof(uint16_t) != 0) {
    scale_copy.resize(size_t(rows * (cols / kGroup)));
    std::memcpy(scale_copy.data(), scale.data, scale_copy.size() * 2);
    scales = scale_copy.data();
  }
  const bool bf16 = scale.dtype == DType::BF16;
  for (int64_t i = 0; i < rows * (cols / kGroup); ++i) {
    const float s = bf16 ? bf16_to_f32(scales[i]) : f16_to_f32(scales[i]);
    if (!std::isfinite(s)) {
      fail("{}: tensor '{}' has a non-finite scale at row {}, group {}", scale.file, scale.name, i / (cols / kGroup),
           i % (cols / kGroup));
    }
  }
  std::vector<int32_t> word_copy;
  const int32_t* words = reinterpret_cast<const int32_t*>(packed.data);
  if (reinterpret_cast<uintptr_t>(packed.data) % alignof(int32_t) != 0) {
    word_copy.resize(size_t(rows * (cols / 8)));
    std::memcpy(word_copy.data(), packed.data, word_copy.size() * 4);
    words = word_copy.data();
  }
  return Int4Matrix::from_compressed_tensors(words, scales, bf16 ? Int4ScaleType::BF16 : Int4ScaleType::F16, rows, cols);
}

void quantize_int4_g32(const float* w, int64_t rows, int64_t cols, int32_t* packed_out, uint16_t* scales_out) {
  if (cols % kGroup != 0) fail("quantize_int4_g32: {} columns is not a multiple of 32", cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < cols / kGroup; ++g) {
      const float* x = w + r * cols + g * kGroup;
      float amax = 0;
      for (int64_t i = 0; i < kGroup; ++i) amax = std::max(amax, std::fabs(x[i]));
      // The library clamps the scale to float32 eps so that all-zero groups
      // still get a usable (tiny) scale.
      const uint16_t bits = f32_to_bf16(std::max(amax / 7.5f, 1.1920929e-7f));
      const float scale = bf16_to_f32(bits);
      scales_out[r * (cols / kGroup) + g] = bits;
      for (int64_t i = 0; i < kGroup; i += 8) {
        uint32_t word = 0;
        for (int j = 0; j < 8; ++j) {
          const float q = std::clamp(std::nearbyint(x[i + j] / scale), -8.0f, 7.0f);
          word |= uint32_t(int(q) + 8) << (4 * j);
        }
        packed_out[r * (cols / 8) + (g * kGroup + i) / 8] = int32_t(word);
      }
    }
  }
}

bool compressed_int4_to_q4_0(const int32_t* packed, const uint16_t* scales_bf16, int64_t rows, int64_t cols,
                             uint8_t* out) {
  bool exact = true;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < cols / kGroup; ++g) {
      uint8_t* block = out + size_t(r * (cols / kGroup) + g) * 18;
      const float scale = bf16_to_f32(scales_bf16[r * (cols / kGroup) + g]);
      const uint16_t d = f32_to_f16(scale);
      exact = exact && f16_to_f32(d) == scale;
      std::memcpy(block, &d, 2);
      auto nibble = [&](int64_t c) { return (uint32_t(packed[r * (cols / 8) + c / 8]) >> (4 * (c % 8))) & 0x0f; };
      for (int j = 0; j < 16; ++j) {
        block[2 + j] = uint8_t(nibble(g * kGroup + j) | (nibble(g * kGroup + j + 16) << 4));
      }
    }
  }
  return exact;
}

void add_compressed_int4_tensors(TensorWriter& out, const std::string& module, int64_t rows, int64_t cols) {
  out.add_tensor(module + ".weight_packed", DType::I32, {rows, cols / 8});
  out.add_tensor(module + ".weight_scale", DType::BF16, {rows, cols / kGroup});
  out.add_tensor(module + ".weight_shape", DType::I64, {2});
}

void write_compressed_int4(TensorWriter& out, const int32_t* packed, const uint16_t* scales, int64_t rows,
                           int64_t cols) {
  out.write_data(packed, size_t(rows * (cols / 8)) * 4);
  out.write_data(scales, size_t(rows * (cols / kGroup)) * 2);
  const int64_t shape[2] = {rows, cols};
  out.write_data(shape, sizeof shape);
}

}  // namespace strata
