#include "engine/mtp_proposer.h"

#include <algorithm>

#include "core/error.h"
#include "engine/step_plan.h"
#include "kernels/ops.h"
#include "model/model.h"

namespace strata {

namespace {

// The module's cache: one layer of the target's shapes.
ModelConfig one_layer(ModelConfig c) {
  c.num_hidden_layers = 1;
  return c;
}

}  // namespace

MtpProposer::MtpProposer(const Model& target, int32_t num_kv_blocks, int32_t block_size)
    : target_(target),
      hidden_size_(target.config().hidden_size),
      blocks_(num_kv_blocks, block_size, /*enable_prefix_caching=*/false),
      kv_(one_layer(target.config()), num_kv_blocks, block_size) {
  if (target.num_mtp_modules() == 0) {
    fail("--speculative-config: method \"mtp\" needs the model's MTP modules, and {} has none ({} declares {})",
         target.config().architecture,
         target.config().num_mtp_modules > 0 ? "they were not loaded; the model's config"
                                             : "its config",
         target.config().num_mtp_modules);
  }
}

void MtpProposer::observe(const PlanEntry& e, const float* hidden) {
  auto [it, added] = shadows_.try_emplace(e.seq->id);
  Shadow& s = it->second;
  if (added) s.kv.id = e.seq->id;
  const int32_t begin = e.token_begin;
  // Recomputed after a preemption: the module's positions from there on are stale.
  if (begin < s.kv.num_computed_tokens) {
    blocks_.truncate(s.kv, begin);
    s.pending.clear();
  }
  const int32_t done = s.kv.num_computed_tokens;
  // Rows from `begin` on replace those kept (a rerun draft's); positions
  // skipped (the target's prefix-cache hits) get zero rows.
  s.pending.resize(size_t(int64_t(begin - done) * hidden_size_), 0.0f);
  s.pending.insert(s.pending.end(), hidden, hidden + int64_t(e.num_tokens()) * hidden_size_);
}

const float* MtpProposer::last_hidden(int32_t n) const { return out_.data() + int64_t(n - 1) * hidden_size_; }

int32_t MtpProposer::run(Shadow& shadow, int32_t first, const int32_t* tokens, const float* previous, int32_t n) {
  positions_.resize(size_t(n));
  slots_.assign(size_t(n), 0);
  for (int32_t i = 0; i < n; ++i) positions_[size_t(i)] = first + i;
  out_.resize(size_t(int64_t(n) * hidden_size_));
  kv_.bind(0, &shadow.kv.block_table);
  const BatchRows rows{n, positions_.data(), slots_.data(), nullptr, &workspace_};
  target_.mtp_forward(0, rows, tokens, previous, out_.data(), kv_);
  kv_.clear_bindings();
  const int64_t vocab = target_.config().vocab_size;
  logits_.resize(size_t(vocab));
  target_.mtp_logits(0, last_hidden(n), 1, logits_.data());
  return int32_t(argmax(logits_.data(), vocab));
}

std::vector<int32_t> MtpProposer::propose(const Sequence& seq, int32_t max_tokens) {
  const auto it = shadows_.find(seq.id);
  if (max_tokens <= 0 || it == shadows_.end()) return {};
  Shadow& s = it->second;
  const int32_t done = s.kv.num_computed_tokens;
  // Chained positions of the last proposal go; positions with a verified
  // hidden state (the target's computed tokens) run now.
  blocks_.truncate(s.kv, done);
  const int32_t end = std::min(done + num_pending(s), seq.num_computed_tokens);
  if (end <= done) return {};
  int32_t n = end - done;
  if (!blocks_.allocate(s.kv, end + max_tokens - 1)) {
    // No room in the module's cache: start this sequence over when it next has hidden states.
    release(seq.id);
    return {};
  }
  tokens_.resize(size_t(n));
  for (int32_t i = 0; i < n; ++i) tokens_[size_t(i)] = seq.token(done + i + 1);
  std::vector<int32_t> draft{run(s, done, tokens_.data(), s.pending.data(), n)};
  s.kv.num_computed_tokens = end;
  s.pending.erase(s.pending.begin(), s.pending.begin() + int64_t(n) * hidden_size_);
  while (int32_t(draft.size()) < max_tokens) {
    previous_.assign(last_hidden(n), last_hidden(n) + hidden_size_);
    const int32_t position = end - 1 + int32_t(draft.size()), token = draft.back();
    n = 1;
    draft.push_back(run(s, position, &token, previous_.data(), 1));
  }
  return draft;
}

void MtpProposer::release(int64_t seq_id) {
  const auto it = shadows_.find(seq_id);
  if (it == shadows_.end()) return;
  blocks_.free(it->second.kv);
  shadows_.erase(it);
}

}  // namespace strata
