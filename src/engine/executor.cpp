#include "engine/executor.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/check.h"
#include "core/error.h"
#include "engine/paged_kv_cache.h"
#include "engine/sequence.h"
#include "model/model.h"

namespace strata {

Executor::Executor(const Model& model, PagedKVCache& kv) : model_(model), kv_(kv) {}

float* Executor::logits(int32_t entry, int32_t row) {
  if (entry < 0 || size_t(entry) >= logits_row_.size() || logits_row_[size_t(entry)] < 0) return nullptr;
  return logits_.data() + size_t(logits_row_[size_t(entry)] + row) * size_t(model_.config().vocab_size);
}

const float* Executor::final_hidden(int32_t entry) const {
  if (entry < 0 || size_t(entry) >= reached_end_.size() || !reached_end_[size_t(entry)]) return nullptr;
  return hidden_.data() + first_row_[size_t(entry)] * model_.config().hidden_size;
}

void Executor::run(const StepPlan& plan, ForwardStats* stats) {
  for (int64_t id : plan.dropped_activations) saved_.erase(id);
  const size_t num_entries = plan.entries.size();
  logits_row_.assign(num_entries, -1);
  reached_end_.assign(num_entries, false);
  last_layer_rows_ = 0;
  if (num_entries == 0) return;
  const int64_t h = model_.config().hidden_size;

  // Row order: narrow layer ranges first, plan order among equals.
  order_.resize(num_entries);
  std::iota(order_.begin(), order_.end(), 0);
  std::stable_sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) {
    const PlanEntry &x = plan.entries[size_t(a)], &y = plan.entries[size_t(b)];
    return x.layer_end - x.layer_begin < y.layer_end - y.layer_begin;
  });
  first_row_.assign(num_entries, 0);
  int64_t n_rows = 0;
  for (int32_t i : order_) {
    first_row_[size_t(i)] = n_rows;
    n_rows += plan.entries[size_t(i)].num_tokens();
  }

  // Inputs: embeddings, or the hidden rows a previous stage saved.
  hidden_.resize(size_t(n_rows * h));
  positions_.resize(size_t(n_rows));
  slots_.resize(size_t(n_rows));
  kv_.clear_bindings();
  for (size_t i = 0; i < num_entries; ++i) {
    const PlanEntry& e = plan.entries[i];
    const Sequence& seq = *e.seq;
    kv_.bind(int32_t(i), &seq.block_table);
    const int64_t row = first_row_[i], n = e.num_tokens();
    check(n > 0, "every plan entry has tokens to run", "request {}", seq.id);
    for (int64_t t = 0; t < n; ++t) {
      positions_[size_t(row + t)] = e.token_begin + int32_t(t);
      slots_[size_t(row + t)] = int32_t(i);
    }
    float* dst = hidden_.data() + row * h;
    if (e.load_activations) {
      auto saved = saved_.find(seq.id);
      check(saved != saved_.end() && int64_t(saved->second.size()) == n * h,
            "a continued prefill stage finds the activations its previous stage kept", "request {}", seq.id);
      std::memcpy(dst, saved->second.data(), size_t(n * h) * sizeof(float));
      saved_.erase(saved);
    } else {
      std::vector<int32_t> tokens(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t) tokens[size_t(t)] = seq.token(e.token_begin + int32_t(t));
      model_.embed(tokens.data(), n, dst);
    }
  }

  // One forward call per layer segment, over exactly the rows passing through it.
  for (const LayerSegment& segment : layer_segments(plan)) {
    std::vector<int32_t> members = segment.entries;
    std::sort(members.begin(), members.end(),
              [&](int32_t a, int32_t b) { return first_row_[size_t(a)] < first_row_[size_t(b)]; });
    int64_t seg_rows = 0;
    bool contiguous = true;
    for (int32_t i : members) {
      contiguous = contiguous && first_row_[size_t(i)] == first_row_[size_t(members[0])] + seg_rows;
      seg_rows += plan.entries[size_t(i)].num_tokens();
    }
    last_layer_rows_ += seg_rows * (segment.layer_end - segment.layer_begin);
    if (contiguous) {
      const int64_t row = first_row_[size_t(members[0])];
      const BatchRows rows{seg_rows, &positions_[size_t(row)], &slots_[size_t(row)], stats, &workspace_};
      model_.forward(rows, segment.layer_begin, segment.layer_end, hidden_.data() + row * h, kv_);
      continue;
    }
    scratch_.resize(size_t(seg_rows * h));
    seg_positions_.clear();
    seg_slots_.clear();
    int64_t at = 0;
    for (int32_t i : members) {
      const int64_t row = first_row_[size_t(i)], n = plan.entries[size_t(i)].num_tokens();
      std::memcpy(&scratch_[size_t(at * h)], &hidden_[size_t(row * h)], size_t(n * h) * sizeof(float));
      seg_positions_.insert(seg_positions_.end(), &positions_[size_t(row)], &positions_[size_t(row + n)]);
      seg_slots_.insert(seg_slots_.end(), &slots_[size_t(row)], &slots_[size_t(row + n)]);
      at += n;
    }
    const BatchRows rows{seg_rows, seg_positions_.data(), seg_slots_.data(), stats, &workspace_};
    model_.forward(rows, segment.layer_begin, segment.layer_end, scratch_.data(), kv_);
    at = 0;
    for (int32_t i : members) {
      const int64_t row = first_row_[size_t(i)], n = plan.entries[size_t(i)].num_tokens();
      std::memcpy(&hidden_[size_t(row * h)], &scratch_[size_t(at * h)], size_t(n * h) * sizeof(float));
      at += n;
    }
  }
  kv_.clear_bindings();

  // Outputs: activations for the next stage, logits of finished rows.
  int32_t num_logits = 0;
  logit_hidden_.clear();
  for (size_t i = 0; i < num_entries; ++i) {
    const PlanEntry& e = plan.entries[i];
    reached_end_[i] = e.layer_end == model_.config().num_hidden_layers;
    const float* rows = hidden_.data() + first_row_[i] * h;
    if (e.keep_activations) saved_[e.seq->id].assign(rows, rows + e.num_tokens() * h);
    if (e.needs_logits) {
      const int32_t n = 1 + e.num_draft_tokens;
      check(n <= e.num_tokens(), "a draft's tokens are rows of its entry", "request {}", e.seq->id);
      const float* first = rows + (e.num_tokens() - n) * h;
      logit_hidden_.insert(logit_hidden_.end(), first, first + n * h);
      logits_row_[i] = num_logits;
      num_logits += n;
    }
  }
  logits_.resize(size_t(num_logits) * size_t(model_.config().vocab_size));
  if (num_logits > 0) model_.logits(logit_hidden_.data(), num_logits, logits_.data());
}

}  // namespace strata
