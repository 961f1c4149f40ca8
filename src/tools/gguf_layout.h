#pragma once
// A model as llama.cpp's GGUF lays it out: the architecture's tensor table
// (model/tensor_table.h) and the metadata llama.cpp reads. Shared by
// `strata synth` and `strata quantize`.
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/tensor_table.h"

namespace strata {

class GGUFWriter;
class Tokenizer;

// Every GGUF tensor of the model, in write order: the architecture's table.
std::vector<TensorSpec> plan_tensors(const ModelConfig& c);

// llama_ftype values for general.file_type.
inline constexpr uint32_t kGGUFFileTypeF32 = 0, kGGUFFileTypeF16 = 1, kGGUFFileTypeQ4_0 = 2,
                          kGGUFFileTypeBF16 = 32;

// Architecture keys, tokenizer (vocabulary padded to the embedding size) and
// chat template.
void write_gguf_metadata(GGUFWriter& w, const ModelConfig& c, const Tokenizer& tok, const std::string& name,
                         uint32_t file_type);

}  // namespace strata
