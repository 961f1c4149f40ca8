#include "model/mtp_tensors.h"

namespace strata {

void add_mtp_modules(TensorTable& t, const ModelConfig& c, bool own_head,
                     const std::function<void(TensorTable::Layer&, int64_t)>& add_block) {
  const size_t first = t.size();
  const int64_t H = c.hidden_size;
  using R = TensorRole;
  for (int64_t m = 0; m < c.num_mtp_modules; ++m) {
    const int64_t index = c.num_hidden_layers + m;
    TensorTable::Layer l = t.layer(index);
    // GGUF names as llama.cpp's deepseek2 nextn tensors, for the record only (HF-only entries).
    l.add(R::MtpEmbedNorm, "nextn.enorm.weight", "enorm.weight", {H});
    l.add(R::MtpHiddenNorm, "nextn.hnorm.weight", "hnorm.weight", {H});
    l.add(R::MtpProjection, "nextn.eh_proj.weight", "eh_proj.weight", {H, 2 * H});
    add_block(l, index);
    if (own_head) {
      l.add(R::MtpHeadNorm, "nextn.shared_head_norm.weight", "shared_head.norm.weight", {H});
      l.add(R::MtpHead, "nextn.shared_head_head.weight", "shared_head.head.weight", {c.vocab_size, H});
    }
  }
  t.mark_hf_only_from(first);
}

}  // namespace strata
