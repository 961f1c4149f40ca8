#pragma once
// compressed-tensors "pack-quantized" INT4 checkpoints (the format vLLM reads
// and Kimi K2 Thinking ships): config.json's `quantization_config` says which
// linear modules are quantized (config_groups' targets minus `ignore`, each by
// exact name, by "re:" regex matched from the start of the name, or the class
// name "Linear"); a quantized module X stores
//   X.weight_packed  int32 [out, in / 8]: q + 8 as nibbles, value j of 8 in bits [4j, 4j + 4)
//   X.weight_scale   bf16/f16 [out, in / 32]
//   X.weight_shape   int [2] = [out, in]
// and w = scale * q. Only symmetric int4 with group size 32 is supported.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace strata {

class Int4Matrix;
class TensorWriter;
class TensorSource;

struct CompressedTensorsConfig {
  std::vector<std::string> targets;  // union over config_groups
  std::vector<std::string> ignore;

  // Whether linear module `module` (e.g. "model.layers.0.mlp.experts.3.up_proj") is INT4.
  bool quantizes(const std::string& module) const;

  // Absent quantization_config: nullopt. Anything other than the supported
  // scheme throws Error naming `source` and the key.
  static std::optional<CompressedTensorsConfig> from_hf(const nlohmann::json& config, const std::string& source);
  // The quantization_config object for config.json.
  nlohmann::json to_json() const;
};

// Reads and validates module X's packed tensors, expecting [rows, cols], and
// re-lays them. Throws Error naming the tensor when weight_shape disagrees
// with the packed tensor or the expected shape, the group size is not 32,
// or a scale is missing or not finite.
Int4Matrix load_compressed_int4(const TensorSource& src, const std::string& module, int64_t rows, int64_t cols);

// Round-to-nearest symmetric INT4 with one scale per 32 columns, as the
// library's min-max observer does: scale = max|w| / 7.5 (that is
// (q_max - q_min) / 2), stored as bf16; q = clamp(round(w / scale), -8, 7)
// computed with the stored scale. packed_out: [rows, cols / 8] int32,
// scales_out: [rows, cols / 32] bf16 bits. cols must be a multiple of 32.
void quantize_int4_g32(const float* w, int64_t rows, int64_t cols, int32_t* packed_out, uint16_t* scales_out);

// Converts one module to GGUF Q4_0 blocks (out: rows * cols / 32 blocks of
// 18 bytes): only the nibble order changes and the bf16 scale becomes f16.
// Returns false when some scale is not exactly representable in f16 (the
// result is then rounded, no longer exact).
bool compressed_int4_to_q4_0(const int32_t* packed, const uint16_t* scales_bf16, int64_t rows, int64_t cols,
                             uint8_t* out);

// Writer side: declares module X's three tensors (in the order
// write_compressed_int4 writes them) ...
void add_compressed_int4_tensors(TensorWriter& out, const std::string& module, int64_t rows, int64_t cols);
// ... and writes their data.
void write_compressed_int4(TensorWriter& out, const int32_t* packed, const uint16_t* scales, int64_t rows,
                           int64_t cols);

}  // namespace strata
