#pragma once
// What one forward call runs on: the batch's rows and where each sits, plus
// optional instrumentation and scratch memory.
#include <cstdint>

namespace strata {

class Workspace;

// What forward passes read, for the engine's instrumentation: each MoE layer
// call adds the number of distinct experts its rows were routed to and the
// bytes those experts' weights occupy in their stored dtype.
struct ForwardStats {
  int64_t moe_calls = 0;
  int64_t experts_touched = 0;  // summed over MoE layer calls
  int64_t expert_bytes = 0;
};

// One row per token in the batch: where it sits in which sequence. Tokens of
// one sequence appear in position order; attention of a token at position p
// covers positions [0, p] of its sequence, reading earlier ones from the cache.
struct BatchRows {
  int64_t n_tokens = 0;
  const int32_t* positions = nullptr;
  const int32_t* seq_slots = nullptr;  // which KV-cache sequence each row belongs to
  ForwardStats* stats = nullptr;       // optional: forward adds its counts here
  Workspace* workspace = nullptr;      // optional: scratch reused across calls (else one per call)
};

}  // namespace strata
