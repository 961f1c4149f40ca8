#pragma once
// The one model class: a pre-norm decoder whose layers are built from the
// architecture's layer specs (model/arch.h) over the shared blocks
//   h = x + attention(rmsnorm(x));  x' = h + (moe | mlp)(rmsnorm(h))
// with weights found through the architecture's tensor table, read in place
// from the TensorSource (HF or GGUF names). GGUF Q4_0 and compressed-tensors
// INT4 weights are re-laid into Int4Matrix at load (4-bit, never dequantized);
// FP8 block-scaled weights stay FP8 where they are mapped (Fp8Matrix); BF16
// weights are also re-laid into Bf16Panels where the selected gemm_bf16
// solution reads those.
#include <memory>
#include <string>
#include <vector>

#include "model/blocks/attention_block.h"
#include "model/blocks/mla_block.h"
#include "model/blocks/moe_block.h"
#include "model/model.h"

namespace strata {

class TensorSource;
class Bf16Panels;
class F16Panels;
class Int4Matrix;
class Fp8Matrix;
struct CompressedTensorsConfig;
struct Fp8BlockConfig;
struct TensorSpec;

class DecoderModel : public Model {
 public:
  // Checks every tensor's presence, shape and dtype; throws Error naming the
  // file and tensor. `tokenizer` may be null for weight-only uses. `quant`
  // (compressed-tensors INT4) and `fp8` (block-scaled FP8), HF names only,
  // say which linear modules are stored quantized. `load_mtp`: also load
  // the config's MTP modules (model/mtp_tensors.h).
  DecoderModel(const ModelConfig& config, std::unique_ptr<TensorSource> weights, std::unique_ptr<Tokenizer> tokenizer,
               const CompressedTensorsConfig* quant = nullptr, const Fp8BlockConfig* fp8 = nullptr,
               bool load_mtp = false);
  ~DecoderModel() override;

  void embed(const int32_t* tokens, int64_t n, float* hidden) const override;
  void forward(const BatchRows& rows, int64_t layer_begin, int64_t layer_end, float* hidden,
               KVCache& kv) const override;
  void logits(const float* hidden, int64_t n, float* logits) const override;
  void final_norm(const float* hidden, int64_t n, float* out) const override;
  void mtp_forward(int64_t module, const BatchRows& rows, const int32_t* tokens, const float* previous, float* hidden,
                   KVCache& kv) const override;
  void mtp_logits(int64_t module, const float* hidden, int64_t n, float* logits) const override;

 private:
  struct Layer {
    LayerSpec spec;
    std::vector<float> attn_norm, ffn_norm;
    AttentionWeights attention;  // GQA layers
    MlaWeights mla;              // latent-attention layers
    MoeWeights moe;   // MoE layers
    MlpWeights mlp;   // dense layers
  };
  // An MTP module's own weights; its block is layers_[num_hidden_layers + module].
  struct MtpModule {
    std::vector<float> embed_norm, hidden_norm;
    WeightMatrix projection;                 // [hidden, 2 * hidden]
    std::vector<float> head_norm;            // empty: the final norm
    WeightMatrix head;                       // no rows: the LM head
  };

  // `norm` then `head` over n rows of hidden (the LM head, or an MTP module's).
  void head_logits(const std::vector<float>& norm, const WeightMatrix& head, const float* hidden, int64_t n,
                   float* logits) const;
  // MTP module `module`; throws Error naming `caller` when it is not loaded.
  const MtpModule& mtp_module(int64_t module, const char* caller) const;
  // Layers [begin, end) over hidden, layer i's cache being kv.layer(i - kv_first).
  void run_layers(const BatchRows& rows, int64_t begin, int64_t end, float* hidden, KVCache& kv,
                  int64_t kv_first) const;

  void load_tensor(const TensorSpec& t);
  // A linear weight by its HF or GGUF tensor name ("<module>.weight"),
  // re-laid for its kernel.
  WeightMatrix linear(const std::string& name, int64_t rows, int64_t cols);
  // The same as stored (FP8 and compressed-tensors INT4 in their layouts).
  WeightMatrix stored_linear(const std::string& name, int64_t rows, int64_t cols);
  // Q4_0 matrices are re-laid as INT4 g32, BF16 ones also as Bf16Panels
  // or F16Panels where matmul reads those; other types are used in place.
  WeightMatrix repacked(const WeightMatrix& w);
  // MLA's per-head up-projections, from GGUF's k_b / v_b or HF's kv_b_proj.
  void load_latent_up_projection(const TensorSpec& t, const std::string& name, MlaWeights& w);

  std::unique_ptr<TensorSource> weights_;
  bool gguf_ = false;
  const CompressedTensorsConfig* quant_ = nullptr;  // during construction only
  const Fp8BlockConfig* fp8_ = nullptr;             // during construction only
  std::vector<std::unique_ptr<Int4Matrix>> int4_;  // re-laid weights the matrices below point to
  std::vector<std::unique_ptr<Bf16Panels>> bf16_panels_;
  std::vector<std::unique_ptr<F16Panels>> f16_panels_;
  std::vector<std::unique_ptr<Fp8Matrix>> fp8_weights_;
  // A quantized kv_b_proj decoded to f32 at load, and HF kv_b_proj's k rows
  // as W_UK^T per head (in kv_b's element type).
  std::vector<std::vector<float>> decoded_;
  std::vector<std::vector<uint8_t>> transposed_;
  WeightMatrix embed_, lm_head_;
  std::vector<float> final_norm_;
  std::vector<Layer> layers_;  // the decoder's, then the MTP modules' blocks
  std::vector<MtpModule> mtp_;
};

}  // namespace strata
