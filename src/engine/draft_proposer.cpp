#include "engine/draft_proposer.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/ops.h"
#include "model/model.h"

namespace strata {

DraftProposer::DraftProposer(std::unique_ptr<Model> draft, const Model& target, int32_t num_kv_blocks,
                             int32_t block_size)
    : draft_(std::move(draft)),
      blocks_(num_kv_blocks, block_size, /*enable_prefix_caching=*/false),
      kv_(draft_->config(), num_kv_blocks, block_size),
      executor_(*draft_, kv_) {
  if (draft_->config().vocab_size != target.config().vocab_size) {
    fail("--speculative-config: the draft model's vocabulary ({} tokens) is not the target's ({})",
         draft_->config().vocab_size, target.config().vocab_size);
  }
}

DraftProposer::~DraftProposer() = default;

int32_t DraftProposer::step(Sequence& shadow) {
  const int32_t n = shadow.num_tokens();
  if (!blocks_.allocate(shadow, n)) return -1;
  StepPlan plan;
  PlanEntry e;
  e.seq = &shadow;
  e.token_begin = shadow.num_computed_tokens;
  e.token_end = n;
  e.layer_end = int32_t(draft_->config().num_hidden_layers);
  e.needs_logits = true;
  plan.entries.push_back(e);
  executor_.run(plan);
  shadow.num_computed_tokens = n;
  return int32_t(argmax(executor_.logits(0), draft_->config().vocab_size));
}

std::vector<int32_t> DraftProposer::propose(const Sequence& seq, int32_t max_tokens) {
  if (max_tokens <= 0) return {};
  auto [it, added] = shadows_.try_emplace(seq.id);
  Sequence& shadow = it->second;
  if (added) {
    shadow.id = seq.id;
    shadow.prompt = seq.prompt;
  }
  // Keep the output both agree on; KV past it belongs to rejected proposals.
  const auto mismatch = std::mismatch(shadow.output.begin(), shadow.output.end(), seq.output.begin(), seq.output.end());
  const int32_t common = int32_t(shadow.prompt.size()) + int32_t(mismatch.first - shadow.output.begin());
  shadow.output.assign(seq.output.begin(), seq.output.end());
  blocks_.truncate(shadow, std::min(shadow.num_computed_tokens, common));
  std::vector<int32_t> draft;
  while (int32_t(draft.size()) < max_tokens) {
    const int32_t token = step(shadow);
    if (token < 0) {
      // No room in the draft's cache: start this sequence over next time.
      release(seq.id);
      return draft;
    }
    draft.push_back(token);
    shadow.output.push_back(token);
  }
  return draft;
}

void DraftProposer::release(int64_t seq_id) {
  const auto it = shadows_.find(seq_id);
  if (it == shadows_.end()) return;
  blocks_.free(it->second);
  shadows_.erase(it);
}

}  // namespace strata
