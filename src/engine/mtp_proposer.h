#pragma once
// The `mtp` method: the target checkpoint's own multi-token-prediction
// module (model/mtp_tensors.h) drafts from the target's hidden states. MTP
// position p takes the target's hidden state at p after the final norm (as
// vLLM's model output is normed) and the token at p + 1, and predicts the
// token at p + 2; its attention
// reads the module's own paged KV cache of one layer, in which each target
// sequence has a shadow holding its positions.
//
// After every step the engine hands over the hidden rows the target
// computed (observe); they wait here until the module runs them. Before
// proposing, the module runs in one pass over the positions that gained a
// verified hidden state and a next token since the last proposal (the
// prompt at first, then the accepted tokens), which gives the first draft
// token; further draft tokens chain the module on its own hidden state and
// the previous draft token, one position each, as vLLM reuses a single MTP
// layer for k > 1. All the step's decoding sequences share each pass (one
// batch of rows, one head matmul), as the target's decodes share a step. Chained positions are cut off the shadow's cache at the
// next proposal (their inputs were guesses) and rerun with the target's
// hidden states. Only the first module runs (DeepSeek-V3 has one;
// MiniMax-M2 declares three): running module j at depth j would need each
// module's own history of positions, which vLLM's chaining does not keep
// either. Positions the target took from its prefix cache have no hidden
// state: the module runs them on zeros, which only costs acceptance.
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

class MtpProposer : public Proposer {
 public:
  // Throws Error when `target` was loaded without MTP modules.
  MtpProposer(const Model& target, int32_t num_kv_blocks, int32_t block_size);
  std::vector<int32_t> propose(const Sequence& seq, int32_t max_tokens) override;
  std::vector<std::vector<int32_t>> propose_all(const std::vector<const Sequence*>& seqs,
                                                const std::vector<int32_t>& max_tokens) override;
  void release(int64_t seq_id) override;
  void observe(const PlanEntry& e, const float* hidden) override;
  // KV blocks the shadows hold (tests: all come back once sequences finish).
  int32_t num_held_blocks() const { return blocks_.num_blocks() - blocks_.num_free_blocks(); }

 private:
  struct Shadow {
    // The module's block table; num_computed_tokens counts the positions
    // run on the target's verified hidden states.
    Sequence kv;
    // Target hidden rows (normed) for positions num_computed_tokens on, not yet run.
    std::vector<float> pending;
  };
  int32_t num_pending(const Shadow& shadow) const { return int32_t(int64_t(shadow.pending.size()) / hidden_size_); }

  // Runs the module over the rows gathered in positions_, slots_ (the
  // shadow bound to each slot), tokens_ (each the token after its row's
  // position) and previous_ (hidden rows); then its head over the rows
  // listed in last_rows_, whose greedy tokens it returns in that order.
  // Their hidden rows are then out_'s rows last_rows_.
  std::vector<int32_t> run();

  const Model& target_;
  const int64_t hidden_size_;
  BlockManager blocks_;
  PagedKVCache kv_;
  Workspace workspace_;
  std::vector<int32_t> positions_, slots_, tokens_, last_rows_;
  std::vector<float> out_, logits_, previous_, heads_in_;
  std::unordered_map<int64_t, Shadow> shadows_;  // by target sequence id
};

}  // namespace strata
