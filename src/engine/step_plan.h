#pragma once
// What one engine step computes, as the scheduler decided it. The executor
// runs a plan without knowing which policy made it:
//
//   for each entry: rows = tokens [token_begin, token_end) of entry.seq;
//     if load_activations, take the hidden rows saved for seq.id by the
//     previous step, else embed the tokens;
//   for each LayerSegment of layer_segments(plan): run model.forward over the
//     rows of the segment's entries only (one call per segment, so every MoE
//     layer sees all the tokens that pass through it in this step);
//   if keep_activations, save the entry's hidden rows for seq.id (the next
//     stage loads them), else drop them;
//   if needs_logits, compute logits of the entry's last 1 + num_draft_tokens
//   rows (a decode verifying a draft: one row per proposed token, plus the
//   row after the last one).
//   Before all that, free the saved activations of dropped_activations.
//
// Slots: bind slot i to entries[i].seq->block_table in the PagedKVCache.
#include <cstdint>
#include <vector>

namespace strata {

struct Sequence;

struct PlanEntry {
  Sequence* seq = nullptr;
  int32_t token_begin = 0, token_end = 0;  // positions in prompt + output
  int32_t layer_begin = 0, layer_end = 0;
  bool is_prefill = false;
  // True only when the step finishes the sequence's tokens through the last
  // layer: its last row's logits give the next token.
  bool needs_logits = false;
  bool load_activations = false;  // a later stage: hidden rows come from the previous step
  bool keep_activations = false;  // an earlier stage: save hidden rows for the next step
  // A decode verifying seq.draft: its rows are the newest token then the
  // draft's tokens (causal among themselves, like a small prefill chunk).
  int32_t num_draft_tokens = 0;

  int32_t num_tokens() const { return token_end - token_begin; }
};

struct StepPlan {
  std::vector<PlanEntry> entries;
  // Sequences whose saved activations are void (preempted or aborted while a
  // staged prefill was in flight): the executor frees them.
  std::vector<int64_t> dropped_activations;
  int32_t num_prefill_tokens = 0;
  int32_t num_decode_tokens = 0;
  // Sequences preempted while building this plan (they hold no KV now; a
  // proposer's shadows of them are released too).
  std::vector<int64_t> preempted;

  bool empty() const { return entries.empty(); }
  bool contains(const Sequence* seq) const;
};

// A maximal run of layers [layer_begin, layer_end) through which the same
// entries pass (indices into plan.entries, in plan order).
struct LayerSegment {
  int32_t layer_begin = 0, layer_end = 0;
  std::vector<int32_t> entries;
};

// The plan's layer axis cut at every entry's layer_begin and layer_end; e.g.
// decodes on [0, 16) and a prefill stage on [4, 8) give [0, 4) decodes,
// [4, 8) both, [8, 16) decodes. Segments no entry passes through are omitted.
std::vector<LayerSegment> layer_segments(const StepPlan& plan);

}  // namespace strata
