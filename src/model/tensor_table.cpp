#include "model/tensor_table.h"

#include <algorithm>

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
    case TensorRole::QA: return "q down projection";
    case TensorRole::QANorm: return "q latent norm";
    case TensorRole::QB: return "q up projection";
    case TensorRole::KvA: return "kv latent projection";
    case TensorRole::KvANorm: return "kv latent norm";
    case TensorRole::KvB: return "kv up projection";
    case TensorRole::KB: return "k up projection (per head, transposed)";
    case TensorRole::VB: return "v up projection (per head)";
    case TensorRole::MtpEmbedNorm: return "MTP embedding norm";
    case TensorRole::MtpHiddenNorm: return "MTP hidden-state norm";
    case TensorRole::MtpProjection: return "MTP input projection";
    case TensorRole::MtpHeadNorm: return "MTP head norm";
    case TensorRole::MtpHead: return "MTP head";
  }
  return "?";
}

bool TensorSpec::routed_experts() const {
  return role == TensorRole::ExpertGate || role == TensorRole::ExpertUp || role == TensorRole::ExpertDown;
}

int64_t TensorSpec::hf_index(int64_t index) const {
  if (split == Split::None) return index;
  // GGUF [heads, a, b] from HF rows of heads * (nope + v) by kv_lora columns.
  const int64_t a = shape[1], b = shape[2];
  const int64_t head = index / (a * b), i = (index / b) % a, j = index % b;
  const int64_t per_head = parts[0].shape[0] / shape[0], kv_lora = parts[0].shape[1];
  if (split == Split::KvBToKB) return (head * per_head + j) * kv_lora + i;  // [h, c, d] = kv_b[h, d, c]
  const int64_t nope = per_head - a;
  return (head * per_head + nope + i) * kv_lora + j;  // [h, d, c] = kv_b[h, nope + d, c]
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

void TensorTable::mark_hf_only_from(size_t first) {
  const auto gguf_only = [](const TensorSpec& t) { return t.gguf_only; };
  tensors_.erase(std::remove_if(tensors_.begin() + std::ptrdiff_t(first), tensors_.end(), gguf_only), tensors_.end());
  for (size_t i = first; i < tensors_.size(); ++i) tensors_[i].hf_only = true;
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

void TensorTable::Layer::split_kv_b(std::string_view hf, std::string_view gguf_k, std::string_view gguf_v,
                                    int64_t heads, int64_t nope, int64_t v, int64_t kv_lora) {
  add(TensorRole::KvB, "attn_kv_b.weight", hf, {heads * (nope + v), kv_lora});
  table_.mark_hf_only();
  const HFPart whole = table_.tensors_.back().parts[0];
  auto derived = [&](TensorRole role, std::string_view gguf, std::vector<int64_t> shape, TensorSpec::Split split) {
    TensorSpec t{fmt::format("blk.{}.{}", index_, gguf), std::move(shape), {whole}, role, index_};
    t.gguf_only = true;
    t.split = split;
    table_.tensors_.push_back(std::move(t));
  };
  derived(TensorRole::KB, gguf_k, {heads, kv_lora, nope}, TensorSpec::Split::KvBToKB);
  derived(TensorRole::VB, gguf_v, {heads, v, kv_lora}, TensorSpec::Split::KvBToVB);
}

}  // namespace strata
