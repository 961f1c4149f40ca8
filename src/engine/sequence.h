#pragma once
// One request as the scheduler sees it: its tokens, how far its KV cache has
// been computed, its blocks, and (for layered prefill) the stage in flight.
// Sampling, stop conditions and timestamps belong to the engine; the engine
// owns Sequence objects and hands the scheduler pointers that stay valid
// until the sequence is finished or aborted.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata {

enum class SeqState {
  Waiting,     // queued (new, or preempted and to be recomputed)
  Prefilling,  // admitted; some of its tokens still lack KV
  Decoding,    // every token but the newest sampled one has KV
  Finished,
  Aborted,
};

const char* to_string(SeqState state);

// A prefill chunk travelling through the layers in stages (layered prefill).
// Tokens [token_begin, token_end) run layers [layer_begin, layer_end) in the
// current stage `stage` of `num_stages`; their activations are kept between
// stages by the executor.
struct PrefillStage {
  int32_t token_begin = 0, token_end = 0;
  int32_t stage = 0, num_stages = 0;
  int32_t layer_begin = 0, layer_end = 0;

  bool in_flight() const { return num_stages > 0; }
};

struct Sequence {
  int64_t id = 0;
  SeqState state = SeqState::Waiting;
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;
  // Speculative decoding: tokens proposed to follow `output`, verified by
  // the next decode step (which runs them at positions num_tokens() on).
  // Not part of the sequence until accepted; never hashed into the prefix cache.
  std::vector<int32_t> draft;
  // Upper bound on generated tokens, used only to reject a request that can
  // never fit; the engine decides when the sequence finishes.
  int32_t max_tokens = 0;

  // Tokens whose KV has been written through every layer. A prefill computes
  // tokens [num_computed_tokens, num_tokens()); a decode computes the one
  // newest token. Preemption resets it to 0 (recompute).
  int32_t num_computed_tokens = 0;
  int32_t num_cached_tokens = 0;  // prefix-cache hit at the last admission
  int32_t num_preemptions = 0;
  PrefillStage prefill_stage;

  // Owned by the BlockManager: physical block of each logical block, and how
  // many leading blocks are already registered in the prefix cache.
  std::vector<int32_t> block_table;
  int32_t num_hashed_blocks = 0;

  int32_t num_tokens() const { return int32_t(prompt.size() + output.size()); }
  // Token at position `pos` of prompt, output and draft, in that order.
  int32_t token(int32_t pos) const {
    if (pos < int32_t(prompt.size())) return prompt[size_t(pos)];
    const size_t in_output = size_t(pos) - prompt.size();
    return in_output < output.size() ? output[in_output] : draft[in_output - output.size()];
  }
  bool is_finished() const { return state == SeqState::Finished || state == SeqState::Aborted; }
};

}  // namespace strata
