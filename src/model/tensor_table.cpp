#include "model/tensor_table.h"

#include <fmt/format.h>

namespace strata {

std::string_view tensor_role_name(TensorRole role) {
  switch (role) {
    case TensorRole::Embedding: return "embedding";
    case TensorRole::FinalNorm: return "final norm";
    case TensorRole::LmHead: return "LM head";
    case TensorRole::AttnNorm: return "attention norm";
    case TensorRole::FfnNorm: return "FFN norm";
    case TensorRole::Q: return "q projection";
    case TensorRole::K: return "k projection";
    case TensorRole::V: return "v projection";
    case TensorRole::O: return "output projection";
    case TensorRole::QNorm: return "q norm";
    case TensorRole::KNorm: return "k norm";
    case TensorRole::Router: return "router";
    case TensorRole::RouterBias: return "router correction bias";
    case TensorRole::ExpertGate: return "expert gate";
    case TensorRole::ExpertUp: return "expert up";
    case TensorRole::ExpertDown: return "expert down";
    case TensorRole::MlpGate: return "MLP gate";
    case TensorRole::MlpUp: return "MLP up";
    case TensorRole::MlpDown: return "MLP down";
    case TensorRole::SharedGate: return "shared expert gate";
    case TensorRole::SharedUp: return "shared expert up";
    case TensorRole::SharedDown: return "shared expert down";
  }
  return "?";
}

bool TensorSpec::routed_experts() const {
  return role == TensorRole::ExpertGate || role == TensorRole::ExpertUp || role == TensorRole::ExpertDown;
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void TensorTable::add(TensorRole role, std::string gguf, std::string hf, std::vector<int64_t> shape) {
  const int64_t n = numel_of(shape);
  tensors_.push_back({std::move(gguf), shape, {{std::move(hf), shape, n}}, role, -1});
}

void TensorTable::add_tied_lm_head(std::vector<int64_t> shape) {
  add(TensorRole::LmHead, "output.weight", "model.embed_tokens.weight", std::move(shape));
  tensors_.back().gguf_only = true;
}

void TensorTable::Layer::add(TensorRole role, std::string_view gguf, std::string_view hf,
                             std::vector<int64_t> shape) {
  table_.add(role, fmt::format("blk.{}.{}", index_, gguf), fmt::format("model.layers.{}.{}", index_, hf),
             std::move(shape));
  table_.tensors_.back().layer = index_;
}

void TensorTable::Layer::experts(TensorRole role, std::string_view gguf, std::string_view hf_prefix,
                                 std::string_view hf_suffix, int64_t n_experts, std::vector<int64_t> expert_shape) {
  TensorSpec t{fmt::format("blk.{}.{}", index_, gguf), {n_experts, expert_shape[0], expert_shape[1]}, {}, role,
               index_};
  for (int64_t e = 0; e < n_experts; ++e) {
    t.parts.push_back({fmt::format("model.layers.{}.{}{}.{}", index_, hf_prefix, e, hf_suffix), expert_shape,
                       numel_of(expert_shape)});
  }
  table_.tensors_.push_back(std::move(t));
}

}  // namespace strata
