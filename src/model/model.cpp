#include "model/model.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/compressed_tensors.h"
#include "formats/fp8_block.h"
#include "formats/gguf.h"
#include "formats/hf_folder.h"
#include "model/decoder_model.h"
#include "tokenizer/tokenizer.h"

namespace strata {

Model::~Model() = default;

namespace {

// HF generation_config.json: sampling only when do_sample is true, with the
// transformers defaults for fields it leaves out.
SamplingParams sampling_defaults(const nlohmann::json& g, const std::string& source) {
  SamplingParams p{.temperature = 0};
  if (!g.is_object()) return p;
  try {
    if (!g.value("do_sample", false)) return p;
    p.temperature = g.value("temperature", 1.0f);
    p.top_k = g.value("top_k", int64_t(50));
    p.top_p = g.value("top_p", 1.0f);
    p.min_p = g.contains("min_p") && !g["min_p"].is_null() ? g["min_p"].get<float>() : 0.0f;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: bad sampling value: {}", source, e.what());
  }
  try {
    p.validate();
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  return p;
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    auto folder = std::make_unique<HFFolder>(path);
    const ModelConfig config = ModelConfig::from_hf(folder->config(), path + "/config.json");
    const std::string tokenizer_config = path + "/tokenizer_config.json";
    auto tokenizer = Tokenizer::from_hf(folder->tokenizer_json_path(),
                                        fs::exists(tokenizer_config, ec) ? tokenizer_config : "");
    const SamplingParams sampling = sampling_defaults(folder->generation_config(), path + "/generation_config.json");
    // An fp8 quantization_config is FP8's; any other is compressed-tensors' to accept or refuse.
    const auto fp8 = Fp8BlockConfig::from_hf(folder->config(), path + "/config.json");
    const auto quant = fp8 ? std::nullopt : CompressedTensorsConfig::from_hf(folder->config(), path + "/config.json");
    auto model = std::make_unique<DecoderModel>(config, std::move(folder), std::move(tokenizer), quant ? &*quant : nullptr,
                                                fp8 ? &*fp8 : nullptr, options.mtp);
    model->generation_defaults_ = sampling;
    return model;
  }
  if (fs::path(path).extension() == ".gguf") {
    auto gguf = std::make_unique<GGUFFile>(path);
    const ModelConfig config = ModelConfig::from_gguf(*gguf);
    auto tokenizer = Tokenizer::from_gguf(*gguf);
    if (options.mtp) fail("{}: MTP modules load from Hugging Face folders only, not GGUF", path);
    return std::make_unique<DecoderModel>(config, std::move(gguf), std::move(tokenizer));
  }
  if (!fs::exists(path, ec)) fail("{}: no such file or directory", path);
  fail("{}: not a model (expected a Hugging Face folder or a .gguf file)", path);
}

}  // namespace strata
