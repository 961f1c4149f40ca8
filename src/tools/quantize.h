#pragma once
// `strata quantize`: a Hugging Face BF16/F16/F32 folder to a compressed-tensors
// pack-quantized INT4 g32 folder (see formats/compressed_tensors.h), or to a
// llama.cpp GGUF whose quantized tensors are Q4_0 holding the same INT4
// values. By default only the routed experts are quantized, as Kimi K2
// Thinking ships. An FP8 block-scaled folder (formats/fp8_block.h) is also
// accepted, for compressed-tensors output only: its FP8 weights are
// dequantized exactly, the targeted ones quantized to INT4 and the others
// written as BF16; the scales and the fp8 quantization_config are dropped.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strata {

enum class QuantizeFormat { CompressedTensors, Q4_0GGUF };

struct QuantizeOptions {
  std::string model, out;  // out: a folder, or a .gguf file
  uint64_t shard_bytes = uint64_t(4) << 30;  // compressed-tensors output: safetensors shard size limit
  QuantizeFormat format = QuantizeFormat::CompressedTensors;
  // compressed-tensors targets / ignore entries (exact names or "re:" regexes);
  // no targets: the architecture's routed experts (ArchSpec::routed_experts).
  std::vector<std::string> targets;
  std::vector<std::string> ignore;
};

struct QuantizedTensor {
  std::string module;
  double rel_rms_error;  // ||w - dequant(quant(w))|| / ||w||
};

struct QuantizeReport {
  std::vector<QuantizedTensor> tensors;
  double overall_rel_rms_error = 0;
};

// Writes to "<out>.partial" and renames it into place at the end; nothing
// remains on failure. Throws Error for bad input (not a float HF folder,
// already quantized other than FP8, bad FP8 scales, bad patterns, existing
// output).
// on_tensor(done_bytes, total_bytes, tensor) is called after each quantized tensor.
QuantizeReport quantize_model(const QuantizeOptions& opts,
                              const std::function<void(uint64_t, uint64_t, const QuantizedTensor*)>& on_progress = {});

}  // namespace strata
