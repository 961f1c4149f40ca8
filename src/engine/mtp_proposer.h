#pragma once
// The `mtp` method: the target checkpoint's own multi-token-prediction
// module (model/mtp_tensors.h) drafts from the target's hidden states. MTP
// position p takes the target's hidden state at p after the final norm (as
// vLLM's model output is normed) and the token at p + 1, and predicts the
// token at p + 2; its attention reads the module's own paged KV cache of one
// layer, in which each target sequence has a shadow holding its positions.
//
// After every step (observe) the module runs over each sequence's positions
// that gained a verified hidden state and whose next token is known, in
// passes of at most max_rows rows, so no step waits on a whole prompt and
// only a row whose next token is not yet known waits here. Its output at
// the newest position gives the first draft token; further draft tokens
// chain the module on its own hidden state and the previous draft token,
// one position each, as vLLM reuses a single MTP layer for k > 1. All the
// step's decoding sequences share each pass (one batch of rows, one head
// matmul), as the target's decodes share a step. Chained positions are cut
// off the shadow's cache after the step that verifies them (their inputs
// were guesses) and rerun with the target's hidden states. Only the first
// module runs (DeepSeek-V3 has one; MiniMax-M2 declares three): running
// module j at depth j would need each module's own history of positions,
// which vLLM's chaining does not keep either. Positions without a hidden
// state (the target's prefix-cache hits, or rows dropped when the module's
// cache was full) run on zeros, which only costs acceptance.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/block_manager.h"
#include "engine/paged_kv_cache.h"
#include "engine/proposer.h"
#include "engine/sequence.h"
#include "model/workspace.h"

namespace strata {

class Model;
struct PlanEntry;

class MtpProposer : public Proposer {
 public:
  // Throws Error when `target` was loaded without MTP modules. max_rows
  // bounds the rows of one pass of the module (the engine's token budget).
  MtpProposer(const Model& target, int32_t num_kv_blocks, int32_t block_size, int32_t max_rows);
  std::vector<int32_t> propose(const Sequence& seq, int32_t max_tokens) override;
  std::vector<std::vector<int32_t>> propose_all(const std::vector<const Sequence*>& seqs,
                                                const std::vector<int32_t>& max_tokens) override;
  void release(int64_t seq_id) override;
  void observe(const StepPlan& plan, const std::vector<const float*>& hidden) override;
  // KV blocks the shadows hold (tests: all come back once sequences finish).
  int32_t num_held_blocks() const { return blocks_.num_blocks() - blocks_.num_free_blocks(); }
  // Whether a shadow is kept for target sequence seq_id (tests: not once it is preempted).
  bool has_shadow(int64_t seq_id) const { return shadows_.contains(seq_id); }
  // Times the module's cache had no room for a sequence's positions.
  int64_t num_allocation_failures() const { return allocation_failures_; }
  // Target hidden rows kept between steps (at most one per sequence).
  int64_t num_kept_rows() const;

 private:
  struct Shadow {
    // The module's block table; num_computed_tokens counts the positions
    // run on the target's verified hidden states.
    Sequence kv;
    // The target's normed hidden row at position num_computed_tokens, whose
    // next token was not known yet; empty when none.
    std::vector<float> pending;
    // The module's output at position num_computed_tokens - 1 (whose head
    // gives the first draft token); empty before any position ran.
    std::vector<float> newest;
  };

  // Queues the rows of e.seq's runnable positions (hidden: e's rows, normed).
  void catch_up(const PlanEntry& e, const float* hidden);
  // Appends one row for `shadow` to the pass, running the pass first when full.
  void add_row(Shadow& shadow, int32_t position, int32_t token, const float* previous);
  // Runs the module over the queued rows and keeps each shadow's newest output.
  void run_pass();
  // The module over the rows gathered in positions_, slots_, tokens_ and
  // previous_ (hidden rows), into out_.
  void run_module();
  // Greedy tokens of the module's head over `n` rows of hidden.
  std::vector<int32_t> head(const float* hidden, int64_t n);

  const Model& target_;
  const int64_t hidden_size_;
  const int32_t max_rows_;
  BlockManager blocks_;
  PagedKVCache kv_;
  Workspace workspace_;
  std::vector<int32_t> positions_, slots_, tokens_;
  std::vector<Shadow*> bound_;  // by slot: the shadow whose table the slot holds
  std::vector<float> out_, logits_, previous_, normed_, zeros_, heads_in_;
  std::unordered_map<int64_t, Shadow> shadows_;  // by target sequence id
  int64_t allocation_failures_ = 0;
};

}  // namespace strata
