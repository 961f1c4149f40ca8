#pragma once
// Runs a StepPlan on the model and the paged KV cache (see step_plan.h for
// the contract). The executor does not know which policy made the plan: it
// only follows each entry's token and layer ranges.
//
// Rows of the batch are ordered by the width of their entry's layer range,
// narrowest first (a layered prefill stage before the decodes that run every
// layer), so each layer segment's rows are one contiguous span in the usual
// plans; a segment whose rows are not contiguous is gathered into a scratch
// buffer and scattered back, so any plan runs correctly.
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "model/workspace.h"

#include "engine/step_plan.h"

namespace strata {

class Model;
class PagedKVCache;
struct ForwardStats;

class Executor {
 public:
  Executor(const Model& model, PagedKVCache& kv);

  // Runs one step. Afterwards logits(i) holds the logits row(s) of every
  // entry i with needs_logits. `stats` (optional) receives the forward passes' counts.
  void run(const StepPlan& plan, ForwardStats* stats = nullptr);
  // The vocab_size logits of plan entry `entry` (valid until the next run);
  // null when the entry did not need logits. `row` 0 follows the entry's
  // newest sequence token, row j > 0 its draft's token j - 1 (rows up to
  // num_draft_tokens). Mutable so that logits processors can work in place.
  float* logits(int32_t entry, int32_t row = 0);
  // The hidden states (before the final norm) of plan entry `entry`'s
  // tokens, one row of hidden_size per token, when its layer range ends at
  // the model's last layer; else null. Valid until the next run. (What the
  // mtp proposer drafts from, once it has applied Model::final_norm.)
  const float* final_hidden(int32_t entry) const;

  // Sequences whose hidden rows are kept between layered-prefill stages.
  size_t num_saved_activations() const { return saved_.size(); }
  // Rows times layers the last run pushed through the model.
  int64_t last_layer_rows() const { return last_layer_rows_; }

 private:
  const Model& model_;
  PagedKVCache& kv_;
  // Hidden rows of a staged prefill chunk, by sequence id.
  std::unordered_map<int64_t, std::vector<float>> saved_;

  // Per-run buffers, reused between steps.
  std::vector<int32_t> order_;        // entry indices in row order
  std::vector<bool> reached_end_;     // by entry index: ran the last layer
  std::vector<int64_t> first_row_;    // by entry index
  std::vector<float> hidden_, scratch_, logits_, logit_hidden_;
  std::vector<int32_t> positions_, slots_, seg_positions_, seg_slots_;
  std::vector<int32_t> logits_row_;  // by entry index; -1 when none
  Workspace workspace_;              // the model's scratch
  int64_t last_layer_rows_ = 0;
};

}  // namespace strata
