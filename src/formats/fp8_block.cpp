#include "formats/fp8_block.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/tensor_source.h"

namespace strata {

namespace {

constexpr int64_t kBlock = Fp8Matrix::kBlock;
// The largest e4m3 value; a scale above FLT_MAX / 448 could make a weight infinite.
constexpr float kFp8Max = 448.0f;

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t dot; (dot = s.find('.', begin)) != std::string::npos; begin = dot + 1) parts.push_back(s.substr(begin, dot - begin));
  parts.push_back(s.substr(begin));
  return parts;
}

std::vector<std::string> string_list(const nlohmann::json& q, const std::string& source, const char* key) {
  auto it = q.find(key);
  if (it == q.end() || it->is_null()) return {};
  if (!it->is_array()) fail("{}: quantization_config.{} is not a list", source, key);
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string() || v.get<std::string>().empty()) fail("{}: quantization_config.{} holds {}, not a module name", source, key, v.dump());
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

bool Fp8BlockConfig::converts(const std::string& module) const {
  const std::vector<std::string> parts = split_dots(module);
  for (const auto& entry : not_converted) {
    const std::vector<std::string> run = split_dots(entry);
    for (size_t i = 0; i + run.size() <= parts.size(); ++i) {
      if (std::equal(run.begin(), run.end(), parts.begin() + std::ptrdiff_t(i))) return false;
    }
  }
  return true;
}

bool Fp8BlockConfig::quantizes(const TensorSource& src, const std::string& module) const {
  const TensorView* weight = src.find(module + ".weight");
  if (!weight || weight->dtype != DType::F8_E4M3) {
    if (const TensorView* scale = src.find(module + ".weight_scale_inv")) {
      fail("{}: tensor '{}' exists but '{}.weight' is {}, not F8_E4M3", scale->file, scale->name, module,
           weight ? dtype_name(weight->dtype) : "missing");
    }
    return false;
  }
  if (!converts(module)) {
    fail("{}: tensor '{}' is F8_E4M3 but quantization_config excludes module '{}' from conversion", weight->file,
         weight->name, module);
  }
  return true;
}

std::optional<Fp8BlockConfig> Fp8BlockConfig::from_hf(const nlohmann::json& config, const std::string& source) {
  auto it = config.find("quantization_config");
  if (it == config.end() || !it->is_object()) return std::nullopt;
  const nlohmann::json& q = *it;
  if (q.value("quant_method", nlohmann::json()) != "fp8") return std::nullopt;
  const nlohmann::json fmt = q.value("fmt", nlohmann::json("e4m3"));
  if (fmt != "e4m3" && fmt != "float8_e4m3fn") {
    fail("{}: quantization_config.fmt {} is not supported (only e4m3 / float8_e4m3fn)", source, fmt.dump());
  }
  const nlohmann::json act = q.value("activation_scheme", nlohmann::json("dynamic"));
  if (act != "dynamic") {
    fail("{}: quantization_config.activation_scheme {} is not supported (only dynamic)", source, act.dump());
  }
  auto block = q.find("weight_block_size");
  if (block == q.end() || block->is_null()) {
    fail("{}: quantization_config.weight_block_size is missing: per-tensor FP8 is not supported (only [128, 128] blocks)",
         source);
  }
  if (*block != nlohmann::json::array({kBlock, kBlock})) {
    fail("{}: quantization_config.weight_block_size {} is not supported (only [128, 128])", source, block->dump());
  }
  Fp8BlockConfig out;
  out.not_converted = string_list(q, source, "modules_to_not_convert");
  const auto ignored = string_list(q, source, "ignored_layers");
  out.not_converted.insert(out.not_converted.end(), ignored.begin(), ignored.end());
  return out;
}

Fp8Matrix load_fp8_block(const TensorSource& src, const std::string& module, int64_t rows, int64_t cols) {
  const TensorView& weight = src.get(module + ".weight");
  if (weight.dtype != DType::F8_E4M3 || weight.shape != std::vector<int64_t>{rows, cols}) {
    fail("{}: tensor '{}' is {} {}, expected F8_E4M3 [{}, {}]", weight.file, weight.name, dtype_name(weight.dtype),
         weight.shape_str(), rows, cols);
  }
  const std::string scale_name = module + ".weight_scale_inv";
  const TensorView* scale = src.find(scale_name);
  if (!scale) {
    fail("{}: tensor '{}' is missing: the F8_E4M3 weight '{}' needs its block scales", weight.file, scale_name,
         weight.name);
  }
  const int64_t row_blocks = (rows + kBlock - 1) / kBlock, col_blocks = (cols + kBlock - 1) / kBlock;
  if (scale->dtype != DType::F32 && scale->dtype != DType::BF16) {
    fail("{}: tensor '{}' has dtype {}, expected F32 or BF16", scale->file, scale->name, dtype_name(scale->dtype));
  }
  if (scale->shape != std::vector<int64_t>{row_blocks, col_blocks}) {
    fail("{}: tensor '{}' has shape {}, expected [{}, {}] (one scale per 128 x 128 block of [{}, {}])", scale->file,
         scale->name, scale->shape_str(), row_blocks, col_blocks, rows, cols);
  }
  std::vector<float> scales(size_t(row_blocks * col_blocks));
  for (size_t i = 0; i < scales.size(); ++i) {
    if (scale->dtype == DType::F32) {
      std::memcpy(&scales[i], scale->data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, scale->data + 2 * i, 2);
      scales[i] = bf16_to_f32(h);
    }
    const float s = scales[i];
    if (!std::isfinite(s) || s <= 0 || s > std::numeric_limits<float>::max() / kFp8Max) {
      fail("{}: tensor '{}' has scale {} at block [{}, {}]: block scales must be finite, positive and at most {}",
           scale->file, scale->name, s, int64_t(i) / col_blocks, int64_t(i) % col_blocks,
           std::numeric_limits<float>::max() / kFp8Max);
    }
  }
  return Fp8Matrix(weight.data, rows, cols, std::move(scales));
}

void quantize_fp8_block128(const float* w, int64_t rows, int64_t cols, uint8_t* codes_out, float* scales_out) {
  const int64_t col_blocks = (cols + kBlock - 1) / kBlock;
  for (int64_t rb = 0; rb * kBlock < rows; ++rb) {
    for (int64_t cb = 0; cb < col_blocks; ++cb) {
      const int64_t r1 = std::min(rows, (rb + 1) * kBlock), c1 = std::min(cols, (cb + 1) * kBlock);
      float amax = 1e-4f;
      for (int64_t r = rb * kBlock; r < r1; ++r)
        for (int64_t c = cb * kBlock; c < c1; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      const float scale = amax / kFp8Max;
      scales_out[rb * col_blocks + cb] = scale;
      for (int64_t r = rb * kBlock; r < r1; ++r)
        for (int64_t c = cb * kBlock; c < c1; ++c) codes_out[r * cols + c] = f32_to_fp8_e4m3(w[r * cols + c] / scale);
    }
  }
}

}  // namespace strata
