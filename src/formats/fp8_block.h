#pragma once
// FP8 block-scaled checkpoints, as DeepSeek-V3 and MiniMax-M2 publish them.
// config.json's quantization_config:
//   {"quant_method": "fp8", "fmt": "e4m3" (DeepSeek-V3) or "float8_e4m3fn" (MiniMax-M2),
//    "activation_scheme": "dynamic", "weight_block_size": [128, 128],
//    "modules_to_not_convert" (MiniMax-M2, transformers) or "ignored_layers" (vLLM): [...]}
// A quantized linear module X stores
//   X.weight            F8_E4M3 [out, in]
//   X.weight_scale_inv  F32 or BF16 [ceil(out / 128), ceil(in / 128)]
// and w[r][c] = e4m3(X.weight[r][c]) * X.weight_scale_inv[r / 128][c / 128]
// (despite its name, the stored scale multiplies). Modules that are not
// converted (MiniMax-M2: the router gate, e_score_correction_bias, lm_head;
// always the embedding and norms) are stored as BF16/F32.
// Only e4m3 with 128 x 128 blocks is supported.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kernels/fp8_matrix.h"

namespace strata {

class TensorSource;

struct Fp8BlockConfig {
  // modules_to_not_convert and ignored_layers together. An entry names a
  // module or a run of its dot-separated parts: "gate" matches
  // "model.layers.0.block_sparse_moe.gate" but not "...mlp.gate_proj".
  std::vector<std::string> not_converted;

  // Whether the config allows module X to be FP8 (it is not excluded).
  bool converts(const std::string& module) const;
  // Whether module X (e.g. "model.layers.0.block_sparse_moe.experts.3.w1")
  // is stored FP8 in `src`: its X.weight is F8_E4M3. Throws Error naming the
  // tensor when an F8_E4M3 weight belongs to an excluded module, or when
  // X.weight_scale_inv exists for a weight that is not F8_E4M3.
  bool quantizes(const TensorSource& src, const std::string& module) const;

  // nullopt when config has no quantization_config or its quant_method is
  // not "fp8" (another format's business, e.g. compressed-tensors). An fp8
  // config other than e4m3 with 128 x 128 blocks and dynamic activations
  // throws Error naming `source` and the key.
  static std::optional<Fp8BlockConfig> from_hf(const nlohmann::json& config, const std::string& source);
};

// Reads and validates module X's FP8 weight and scales, expecting [rows,
// cols]; the result refers to X.weight's bytes in `src` (keep `src` alive).
// Throws Error naming the file and the tensor when X.weight is not F8_E4M3
// [rows, cols], or X.weight_scale_inv is missing, not F32/BF16, not
// [ceil(rows / 128), ceil(cols / 128)], or holds a scale that is not finite,
// not positive, or so large that a weight would overflow f32.
Fp8Matrix load_fp8_block(const TensorSource& src, const std::string& module, int64_t rows, int64_t cols);

// Writer side (tests, synthetic checkpoints): per 128 x 128 block, scale =
// max(max|w|, 1e-4) / 448 and code = e4m3(w / scale), as the reference block
// quantizers compute. codes_out: rows * cols; scales_out:
// ceil(rows / 128) * ceil(cols / 128) f32.
void quantize_fp8_block128(const float* w, int64_t rows, int64_t cols, uint8_t* codes_out, float* scales_out);

}  // namespace strata
