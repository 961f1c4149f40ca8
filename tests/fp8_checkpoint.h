#pragma once
// Test helper: FP8 block-scaled copies of synthetic checkpoints, as
// DeepSeek-V3 and MiniMax-M2 publish them, and their exactly dequantized twins.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/fp8_block.h"
#include "formats/hf_folder.h"
#include "formats/safetensors.h"
#include "kernels/matmul.h"

namespace fp8_checkpoint {

namespace fs = std::filesystem;
using namespace strata;

// An FP8 block-scaled copy of `bf16` in `out`, as DeepSeek-V3 and MiniMax-M2
// publish them: every 2-D Linear weight F8_E4M3 with F32 128 x 128 block
// scales (tiny's 64-wide matrices are partial blocks), the embedding, the
// router (any module named "gate"), e_score_correction_bias and lm_head kept. Returns each FP8 weight's exact dequantization;
// `tamper` may change a tensor's bytes before they are written.
inline std::map<std::string, std::vector<float>> write_fp8_copy(
    const fs::path& bf16_dir, const fs::path& out,
    const std::function<void(const std::string&, std::vector<uint8_t>&)>& tamper = {}) {
  const HFFolder bf16(bf16_dir.string());
  fs::create_directories(out);
  nlohmann::json config = bf16.config();
  config["quantization_config"] = {{"quant_method", "fp8"}, {"fmt", "e4m3"}, {"activation_scheme", "dynamic"},
                                   {"weight_block_size", {128, 128}}, {"modules_to_not_convert", {"gate", "e_score_correction_bias", "lm_head"}}};
  std::ofstream(out / "config.json") << config.dump(2);
  for (const char* file : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    if (fs::exists(bf16_dir / file)) fs::copy_file(bf16_dir / file, out / file);
  }
  struct Tensor {
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::vector<float>> dequantized;
  const auto fp8_config = Fp8BlockConfig::from_hf(config, "config.json");
  for (const auto& [name, t] : bf16.tensors()) {
    const std::string module = name.substr(0, name.size() - 7);
    const bool fp8 = name.ends_with(".weight") && t.shape.size() == 2 && name != "model.embed_tokens.weight" &&
                     fp8_config->converts(module);
    if (!fp8) {
      tensors[name] = {t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)};
      continue;
    }
    const int64_t rows = t.shape[0], cols = t.shape[1], blocks = (rows + 127) / 128 * ((cols + 127) / 128);
    std::vector<float> w(size_t(rows * cols)), scales(static_cast<size_t>(blocks));
    dequantize_row(t.dtype, t.data, rows * cols, w.data());
    std::vector<uint8_t> codes(w.size()), scale_bytes(scales.size() * 4);
    quantize_fp8_block128(w.data(), rows, cols, codes.data(), scales.data());
    std::memcpy(scale_bytes.data(), scales.data(), scale_bytes.size());
    for (int64_t i = 0; i < rows * cols; ++i) {
      w[size_t(i)] = fp8_e4m3_to_f32(codes[size_t(i)]) * scales[size_t(i / cols / 128 * ((cols + 127) / 128) + i % cols / 128)];
    }
    dequantized[module] = std::move(w);
    tensors[name] = {DType::F8_E4M3, t.shape, std::move(codes)};
    tensors[module + ".weight_scale_inv"] = {DType::F32, {(rows + 127) / 128, (cols + 127) / 128}, std::move(scale_bytes)};
  }
  SafetensorsWriter writer((out / "model.safetensors").string());
  for (const auto& [name, t] : tensors) writer.add_tensor(name, t.dtype, t.shape);
  for (auto& [name, t] : tensors) {
    if (tamper) tamper(name, t.bytes);
    writer.write_data(t.bytes.data(), t.bytes.size());
  }
  writer.finish();
  return dequantized;
}

// `src_dir` with every module of `dequantized` replaced by those F32 values:
// the FP8 copy's weights exactly, in a plain (unquantized) folder.
inline void write_dequantized_twin(const fs::path& src_dir, const std::map<std::string, std::vector<float>>& dequantized,
                                   const fs::path& out) {
  const HFFolder src(src_dir.string());
  fs::create_directories(out);
  for (const char* file : {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    if (fs::exists(src_dir / file)) fs::copy_file(src_dir / file, out / file);
  }
  SafetensorsWriter writer((out / "model.safetensors").string());
  for (const auto& [name, t] : src.tensors()) {
    const bool replaced = dequantized.count(name.substr(0, name.size() - 7)) > 0;
    writer.add_tensor(name, replaced ? DType::F32 : t.dtype, t.shape);
  }
  for (const auto& [name, t] : src.tensors()) {
    auto it = dequantized.find(name.substr(0, name.size() - 7));
    if (it == dequantized.end()) {
      writer.write_data(t.data, t.nbytes);
    } else {
      writer.write_data(it->second.data(), it->second.size() * sizeof(float));
    }
  }
  writer.finish();
}

}  // namespace fp8_checkpoint
