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
  const size_t kept = s.pending.size();
  s.pending.resize(kept + size_t(int64_t(e.num_tokens()) * hidden_size_));
  target_.final_norm(hidden, e.num_tokens(), s.pending.data() + kept);
}

std::vector<int32_t> MtpProposer::run() {
  const int64_t n = int64_t(positions_.size()), h = hidden_size_;
  out_.resize(size_t(n * h));
  const BatchRows rows{n, positions_.data(), slots_.data(), nullptr, &workspace_};
  target_.mtp_forward(0, rows, tokens_.data(), previous_.data(), out_.data(), kv_);
  heads_in_.clear();
  for (int32_t r : last_rows_) heads_in_.insert(heads_in_.end(), &out_[size_t(r * h)], &out_[size_t((r + 1) * h)]);
  const int64_t vocab = target_.config().vocab_size, m = int64_t(last_rows_.size());
  logits_.resize(size_t(m * vocab));
  target_.mtp_logits(0, heads_in_.data(), m, logits_.data());
  std::vector<int32_t> tokens;
  for (int64_t i = 0; i < m; ++i) tokens.push_back(int32_t(argmax(&logits_[size_t(i * vocab)], vocab)));
  return tokens;
}

std::vector<int32_t> MtpProposer::propose(const Sequence& seq, int32_t max_tokens) {
  return propose_all({&seq}, {max_tokens})[0];
}

std::vector<std::vector<int32_t>> MtpProposer::propose_all(const std::vector<const Sequence*>& seqs,
                                                           const std::vector<int32_t>& max_tokens) {
  std::vector<std::vector<int32_t>> drafts(seqs.size());
  // The sequences that draft (by slot), each from position `end` on.
  std::vector<size_t> drafting;
  std::vector<int32_t> ends;
  positions_.clear(), slots_.clear(), tokens_.clear(), previous_.clear(), last_rows_.clear();
  kv_.clear_bindings();
  for (size_t i = 0; i < seqs.size(); ++i) {
    const Sequence& seq = *seqs[i];
    const auto it = shadows_.find(seq.id);
    if (max_tokens[i] <= 0 || it == shadows_.end()) continue;
    Shadow& s = it->second;
    const int32_t done = s.kv.num_computed_tokens;
    // Chained positions of the last proposal go; positions with a verified
    // hidden state (the target's computed tokens) run now.
    blocks_.truncate(s.kv, done);
    const int32_t end = std::min(done + num_pending(s), seq.num_computed_tokens);
    if (end <= done) continue;
    if (!blocks_.allocate(s.kv, end + max_tokens[i] - 1)) {
      // No room in the module's cache: start this sequence over when it next has hidden states.
      release(seq.id);
      continue;
    }
    const int32_t slot = int32_t(drafting.size());
    kv_.bind(slot, &s.kv.block_table);
    for (int32_t p = done; p < end; ++p) {
      positions_.push_back(p);
      slots_.push_back(slot);
      tokens_.push_back(seq.token(p + 1));
    }
    previous_.insert(previous_.end(), s.pending.begin(), s.pending.begin() + int64_t(end - done) * hidden_size_);
    s.pending.erase(s.pending.begin(), s.pending.begin() + int64_t(end - done) * hidden_size_);
    s.kv.num_computed_tokens = end;
    last_rows_.push_back(int32_t(positions_.size()) - 1);
    drafting.push_back(i);
    ends.push_back(end);
  }
  if (drafting.empty()) return drafts;
  std::vector<int32_t> newest = last_rows_;  // by slot: out_'s row of its newest hidden state
  std::vector<int32_t> next = run();
  for (size_t slot = 0; slot < drafting.size(); ++slot) drafts[drafting[slot]].push_back(next[slot]);
  for (int32_t depth = 1;; ++depth) {
    // A chained pass: one row per sequence whose draft is still short, on
    // its newest hidden state and draft token.
    positions_.clear(), slots_.clear(), tokens_.clear(), previous_.clear(), last_rows_.clear();
    std::vector<size_t> slot_of_row;
    for (size_t slot = 0; slot < drafting.size(); ++slot) {
      if (depth >= max_tokens[drafting[slot]]) continue;
      const float* hidden = &out_[size_t(int64_t(newest[slot]) * hidden_size_)];
      previous_.insert(previous_.end(), hidden, hidden + hidden_size_);
      positions_.push_back(ends[slot] - 1 + depth);
      slots_.push_back(int32_t(slot));
      tokens_.push_back(drafts[drafting[slot]].back());
      last_rows_.push_back(int32_t(slot_of_row.size()));
      slot_of_row.push_back(slot);
    }
    if (slot_of_row.empty()) break;
    next = run();
    for (size_t r = 0; r < slot_of_row.size(); ++r) {
      drafts[drafting[slot_of_row[r]]].push_back(next[r]);
      newest[slot_of_row[r]] = int32_t(r);
    }
  }
  kv_.clear_bindings();
  return drafts;
}

void MtpProposer::release(int64_t seq_id) {
  const auto it = shadows_.find(seq_id);
  if (it == shadows_.end()) return;
  blocks_.free(it->second.kv);
  shadows_.erase(it);
}

}  // namespace strata
