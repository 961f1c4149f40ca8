#pragma once
// The tensors of a model: one entry per GGUF tensor, with the Hugging Face
// tensors it is made of (GGUF stacks the routed experts of a layer into one
// [n_expert, rows, cols] tensor per projection; HF keeps one per expert) and
// the role the loader gives it. An architecture writes this table once
// (model/arch.h); the loader, the GGUF writer, `strata synth`,
// `strata quantize` and the simulator all read it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

enum class TensorRole : uint8_t {
  Embedding, FinalNorm, LmHead,
  AttnNorm, FfnNorm, Q, K, V, O, QNorm, KNorm,
  Router, RouterBias, ExpertGate, ExpertUp, ExpertDown,  // routed experts: stacked in GGUF
  MlpGate, MlpUp, MlpDown,                               // dense MLP layers
  SharedGate, SharedUp, SharedDown,                      // shared experts of MoE layers
  // Multi-head latent attention (DeepSeek): q down/up projections and norm,
  // the joint latent + rope-key projection and the latent norm; KvB is HF's
  // kv_b_proj, which GGUF stores split per head as KB (W_UK^T) and VB (W_UV).
  QA, QANorm, QB, KvA, KvANorm, KvB, KB, VB,
  // A multi-token-prediction module's own tensors (model/mtp_tensors.h): the
  // norms of its two inputs (the next token's embedding, the previous hidden
  // state), their joint projection, and DeepSeek's shared_head norm and head.
  MtpEmbedNorm, MtpHiddenNorm, MtpProjection, MtpHeadNorm, MtpHead,
};
std::string_view tensor_role_name(TensorRole role);

struct HFPart {
  std::string name;
  std::vector<int64_t> shape;
  int64_t numel = 0;
};

struct TensorSpec {
  std::string gguf_name;
  std::vector<int64_t> shape;  // GGUF shape in torch order, outermost first
  std::vector<HFPart> parts;   // one, or one per expert for the routed experts
  TensorRole role = TensorRole::Embedding;
  int64_t layer = -1;          // -1 outside the decoder layers
  // Written to GGUF only, from the HF tensor of another entry (a tied LM
  // head for architectures whose llama.cpp graph requires output.weight, or
  // a per-head split of kv_b_proj: see `split`).
  bool gguf_only = false;
  // In the HF folder only: GGUF stores it as gguf_only entries.
  bool hf_only = false;
  // How a gguf_only entry's elements come from its one HF part: as they are,
  // or (KB/VB) DeepSeek's kv_b_proj [heads * (nope + v), kv_lora] split per
  // head into KB [heads, kv_lora, nope] (the k rows, transposed) and VB
  // [heads, v, kv_lora] (the v rows), as llama.cpp's converter does.
  enum class Split : uint8_t { None, KvBToKB, KvBToVB } split = Split::None;
  // The index in the HF part of element `index` of this (GGUF) tensor.
  int64_t hf_index(int64_t index) const;
  bool routed_experts() const;
  bool is_vector() const { return shape.size() == 1; }  // norms and biases
};

int64_t numel_of(const std::vector<int64_t>& shape);

// Builds a table in write order: global tensors with add(), a layer's with
// layer(i).add(...), routed experts with layer(i).experts(...).
class TensorTable {
 public:
  void add(TensorRole role, std::string gguf, std::string hf, std::vector<int64_t> shape);
  // The LM head as "output.weight" in GGUF, made of the tied embedding.
  void add_tied_lm_head(std::vector<int64_t> shape);
  // The last entry added becomes HF-only.
  void mark_hf_only() { tensors_.back().hf_only = true; }
  // Every entry from index `first` on becomes HF-only, and the GGUF-only
  // ones among them (a kv_b split) go.
  void mark_hf_only_from(size_t first);
  size_t size() const { return tensors_.size(); }

  class Layer {
   public:
    // "blk.<i>.<gguf>" and "model.layers.<i>.<hf>".
    void add(TensorRole role, std::string_view gguf, std::string_view hf, std::vector<int64_t> shape);
    // One GGUF tensor "blk.<i>.<gguf>" of [n_experts, rows, cols] from the HF
    // tensors "model.layers.<i>.<hf_prefix><e>.<hf_suffix>".
    void experts(TensorRole role, std::string_view gguf, std::string_view hf_prefix, std::string_view hf_suffix,
                 int64_t n_experts, std::vector<int64_t> expert_shape);
    // kv_b_proj "model.layers.<i>.<hf>" [heads * (nope + v), kv_lora], HF
    // only, and its GGUF split "blk.<i>.<gguf_k>" / "blk.<i>.<gguf_v>".
    void split_kv_b(std::string_view hf, std::string_view gguf_k, std::string_view gguf_v, int64_t heads,
                    int64_t nope, int64_t v, int64_t kv_lora);

   private:
    friend class TensorTable;
    Layer(TensorTable& table, int64_t index) : table_(table), index_(index) {}
    TensorTable& table_;
    int64_t index_;
  };
  Layer layer(int64_t index) { return Layer(*this, index); }

  std::vector<TensorSpec> take() { return std::move(tensors_); }

 private:
  std::vector<TensorSpec> tensors_;
};

}  // namespace strata
