#pragma once
// The `draft` method: a smaller model with the target's vocabulary proposes
// by greedy decoding in its own paged KV cache. Each target sequence has a
// shadow sequence there; before proposing, the shadow is cut back to the
// longest prefix it shares with the target's tokens (its rejected proposals
// roll back by truncation), catches up in one chunk, then decodes the draft
// one token per forward pass. Sequences are drafted one at a time.
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "engine/block_manager.h"
#include "engine/executor.h"
#include "engine/paged_kv_cache.h"
#include "engine/proposer.h"
#include "engine/sequence.h"

namespace strata {

class Model;

class DraftProposer : public Proposer {
 public:
  // Throws Error when the draft's vocabulary is not the target's.
  DraftProposer(std::unique_ptr<Model> draft, const Model& target, int32_t num_kv_blocks, int32_t block_size);
  ~DraftProposer() override;
  std::vector<int32_t> propose(const Sequence& seq, int32_t max_tokens) override;
  void release(int64_t seq_id) override;
  // KV blocks the shadows hold (tests: all come back once sequences finish).
  int32_t num_held_blocks() const { return blocks_.num_blocks() - blocks_.num_free_blocks(); }
  // Whether a shadow is kept for target sequence seq_id (tests: not once it is preempted).
  bool has_shadow(int64_t seq_id) const { return shadows_.contains(seq_id); }

 private:
  // Computes shadow's uncomputed tokens; returns the greedy next token, or
  // -1 when the draft's cache has no room.
  int32_t step(Sequence& shadow);

  std::unique_ptr<Model> draft_;
  BlockManager blocks_;
  PagedKVCache kv_;
  Executor executor_;
  std::unordered_map<int64_t, Sequence> shadows_;  // by target sequence id
};

}  // namespace strata
