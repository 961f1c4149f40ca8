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

MtpProposer::MtpProposer(const Model& target, int32_t num_kv_blocks, int32_t block_size, int32_t max_rows)
    : target_(target),
      hidden_size_(target.config().hidden_size),
      max_rows_(std::max(1, max_rows)),
      blocks_(num_kv_blocks, block_size, /*enable_prefix_caching=*/false),
      kv_(one_layer(target.config()), num_kv_blocks, block_size),
      zeros_(size_t(hidden_size_), 0.0f) {
  if (target.num_mtp_modules() == 0) {
    fail("--speculative-config: method \"mtp\" needs the model's MTP modules, and {} has none ({} declares {})",
         target.config().architecture,
         target.config().num_mtp_modules > 0 ? "they were not loaded; the model's config"
                                             : "its config",
         target.config().num_mtp_modules);
  }
}

void MtpProposer::observe(const StepPlan& plan, const std::vector<const float*>& hidden) {
  for (size_t i = 0; i < plan.entries.size(); ++i) {
    // A sequence finished in this step has been released: nothing to keep.
    if (hidden[i] && !plan.entries[i].seq->is_finished()) catch_up(plan.entries[i], hidden[i]);
  }
  if (!positions_.empty()) run_pass();
}

void MtpProposer::catch_up(const PlanEntry& e, const float* hidden) {
  const Sequence& seq = *e.seq;
  auto [it, added] = shadows_.try_emplace(seq.id);
  Shadow& s = it->second;
  if (added) s.kv.id = seq.id;
  const int32_t begin = e.token_begin, h = int32_t(hidden_size_);
  // Chained positions of the last proposal go; so do positions from `begin`
  // on when the target recomputes them (a sequence preempted and rerun).
  if (begin < s.kv.num_computed_tokens) s.pending.clear(), s.newest.clear();
  blocks_.truncate(s.kv, std::min(begin, s.kv.num_computed_tokens));
  const int32_t done = s.kv.num_computed_tokens;
  // The target's hidden states hold for its computed tokens (a rejected
  // draft's rows do not); the module runs a position once the token after it is known.
  const int32_t verified = std::min(e.token_end, seq.num_computed_tokens);
  const int32_t runnable = std::min(verified, seq.num_tokens() - 1);
  if (verified <= done) return;
  if (!blocks_.allocate(s.kv, runnable)) {
    // No room in the module's cache: these rows are lost (their positions
    // run on zeros later), the shadow stays, and the sequence has no draft until it catches up.
    ++allocation_failures_;
    return;
  }
  normed_.resize(size_t(int64_t(verified - begin) * h));
  target_.final_norm(hidden, verified - begin, normed_.data());
  // Position p's row: this step's, the one kept from the last step, or zeros
  // (positions the target took from its prefix cache).
  auto row = [&](int32_t p) -> const float* {
    if (p >= begin) return &normed_[size_t(int64_t(p - begin) * h)];
    if (p == done && !s.pending.empty()) return s.pending.data();
    return zeros_.data();
  };
  for (int32_t p = done; p < runnable; ++p) add_row(s, p, seq.token(p + 1), row(p));
  if (runnable == verified) {
    s.pending.clear();
  } else if (const float* kept = row(runnable); kept != s.pending.data()) {
    s.pending.assign(kept, kept + h);
  }
  s.kv.num_computed_tokens = runnable;
}

void MtpProposer::add_row(Shadow& shadow, int32_t position, int32_t token, const float* previous) {
  if (int32_t(positions_.size()) == max_rows_) run_pass();
  if (bound_.empty() || bound_.back() != &shadow) {
    kv_.bind(int32_t(bound_.size()), &shadow.kv.block_table);
    bound_.push_back(&shadow);
  }
  positions_.push_back(position);
  slots_.push_back(int32_t(bound_.size()) - 1);
  tokens_.push_back(token);
  previous_.insert(previous_.end(), previous, previous + hidden_size_);
}

void MtpProposer::run_pass() {
  run_module();
  const size_t n = positions_.size(), h = size_t(hidden_size_);
  for (size_t r = 0; r < n; ++r) {
    if (r + 1 < n && slots_[r + 1] == slots_[r]) continue;
    bound_[size_t(slots_[r])]->newest.assign(&out_[r * h], &out_[(r + 1) * h]);
  }
  positions_.clear(), slots_.clear(), tokens_.clear(), previous_.clear(), bound_.clear();
  kv_.clear_bindings();
}

void MtpProposer::run_module() {
  const int64_t n = int64_t(positions_.size());
  out_.resize(size_t(n * hidden_size_));
  const BatchRows rows{n, positions_.data(), slots_.data(), nullptr, &workspace_};
  target_.mtp_forward(0, rows, tokens_.data(), previous_.data(), out_.data(), kv_);
}

std::vector<int32_t> MtpProposer::head(const float* hidden, int64_t n) {
  const int64_t vocab = target_.config().vocab_size;
  logits_.resize(size_t(n * vocab));
  target_.mtp_logits(0, hidden, n, logits_.data());
  std::vector<int32_t> tokens;
  for (int64_t i = 0; i < n; ++i) tokens.push_back(int32_t(argmax(&logits_[size_t(i * vocab)], vocab)));
  return tokens;
}

std::vector<int32_t> MtpProposer::propose(const Sequence& seq, int32_t max_tokens) {
  return propose_all({&seq}, {max_tokens})[0];
}

std::vector<std::vector<int32_t>> MtpProposer::propose_all(const std::vector<const Sequence*>& seqs,
                                                           const std::vector<int32_t>& max_tokens) {
  std::vector<std::vector<int32_t>> drafts(seqs.size());
  // The sequences that draft (by slot), each chaining from position `end` on.
  std::vector<size_t> drafting;
  std::vector<int32_t> ends;
  heads_in_.clear();
  kv_.clear_bindings();
  for (size_t i = 0; i < seqs.size(); ++i) {
    const Sequence& seq = *seqs[i];
    const auto it = shadows_.find(seq.id);
    if (max_tokens[i] <= 0 || it == shadows_.end()) continue;
    Shadow& s = it->second;
    // The first draft token is the head's over the module's output at the
    // position before the newest token; a shadow behind the target has none.
    const int32_t end = s.kv.num_computed_tokens;
    if (s.newest.empty() || end != seq.num_tokens() - 1) continue;
    if (!blocks_.allocate(s.kv, end + max_tokens[i] - 1)) {
      ++allocation_failures_;  // no room for the chained positions: no draft this step
      continue;
    }
    kv_.bind(int32_t(drafting.size()), &s.kv.block_table);
    heads_in_.insert(heads_in_.end(), s.newest.begin(), s.newest.end());
    drafting.push_back(i);
    ends.push_back(end);
  }
  if (drafting.empty()) return drafts;
  std::vector<int32_t> next = head(heads_in_.data(), int64_t(drafting.size()));
  for (size_t slot = 0; slot < drafting.size(); ++slot) drafts[drafting[slot]].push_back(next[slot]);
  // By slot: the module's newest hidden row (in heads_in_ at first, then in out_).
  std::vector<const float*> newest;
  for (size_t slot = 0; slot < drafting.size(); ++slot) newest.push_back(&heads_in_[slot * size_t(hidden_size_)]);
  for (int32_t depth = 1;; ++depth) {
    // A chained pass: one row per sequence whose draft is still short, on
    // its newest hidden state and draft token.
    positions_.clear(), slots_.clear(), tokens_.clear(), previous_.clear();
    std::vector<size_t> slot_of_row;
    for (size_t slot = 0; slot < drafting.size(); ++slot) {
      if (depth >= max_tokens[drafting[slot]]) continue;
      previous_.insert(previous_.end(), newest[slot], newest[slot] + hidden_size_);
      positions_.push_back(ends[slot] - 1 + depth);
      slots_.push_back(int32_t(slot));
      tokens_.push_back(drafts[drafting[slot]].back());
      slot_of_row.push_back(slot);
    }
    if (slot_of_row.empty()) break;
    run_module();
    next = head(out_.data(), int64_t(slot_of_row.size()));
    for (size_t r = 0; r < slot_of_row.size(); ++r) {
      drafts[drafting[slot_of_row[r]]].push_back(next[r]);
      newest[slot_of_row[r]] = &out_[r * size_t(hidden_size_)];
    }
  }
  positions_.clear(), slots_.clear(), tokens_.clear(), previous_.clear();
  kv_.clear_bindings();
  return drafts;
}

int64_t MtpProposer::num_kept_rows() const {
  int64_t rows = 0;
  for (const auto& [id, shadow] : shadows_) rows += int64_t(shadow.pending.size()) / hidden_size_;
  return rows;
}

void MtpProposer::release(int64_t seq_id) {
  const auto it = shadows_.find(seq_id);
  if (it == shadows_.end()) return;
  blocks_.free(it->second.kv);
  shadows_.erase(it);
}

}  // namespace strata
