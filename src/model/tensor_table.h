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
  // head for architectures whose llama.cpp graph requires output.weight).
  bool gguf_only = false;
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

  class Layer {
   public:
    // "blk.<i>.<gguf>" and "model.layers.<i>.<hf>".
    void add(TensorRole role, std::string_view gguf, std::string_view hf, std::vector<int64_t> shape);
    // One GGUF tensor "blk.<i>.<gguf>" of [n_experts, rows, cols] from the HF
    // tensors "model.layers.<i>.<hf_prefix><e>.<hf_suffix>".
    void experts(TensorRole role, std::string_view gguf, std::string_view hf_prefix, std::string_view hf_suffix,
                 int64_t n_experts, std::vector<int64_t> expert_shape);

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
