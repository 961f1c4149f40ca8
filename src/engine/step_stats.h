#pragma once
// What the engine measures: one record per step, one per request, and
// running counters (the future /metrics). Times are seconds on the engine's
// clock, which starts when the engine is made.
#include <array>
#include <cstdint>
#include <vector>

#include "engine/request.h"

namespace strata {

struct StepStats {
  int64_t index = 0;
  double start = 0, duration = 0;  // wall time of schedule + forward + sampling
  int32_t num_seqs = 0;            // plan entries
  int32_t prefill_tokens = 0, decode_tokens = 0;
  int32_t draft_tokens = 0;  // of decode_tokens, those verifying drafts
  int32_t preempted = 0;
  // Layer segments as [layer_begin, layer_end) with the rows run through them.
  struct Segment {
    int32_t layer_begin = 0, layer_end = 0;
    int64_t rows = 0;
  };
  std::vector<Segment> segments;
  int64_t layer_rows = 0;  // sum over segments of rows x layers
  int64_t moe_calls = 0;
  int64_t experts_touched = 0;  // distinct experts, summed over MoE layer calls
  int64_t expert_bytes = 0;     // bytes of expert weights those experts hold

  double experts_per_moe_call() const { return moe_calls ? double(experts_touched) / double(moe_calls) : 0.0; }
};

struct RequestRecord {
  int64_t id = 0;
  double arrival = 0;
  double first_token = -1;          // -1 until the first token
  std::vector<double> token_times;  // one per generated token
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;  // prefix-cache hit at the last admission
  int32_t preemptions = 0;
  std::optional<FinishReason> finish;
};

struct EngineCounters {
  int64_t steps = 0;
  int64_t requests_submitted = 0, requests_rejected = 0;
  int64_t prompt_tokens = 0;      // of requests that reached their first token
  int64_t generation_tokens = 0;
  int64_t prefix_cache_queries = 0, prefix_cache_hits = 0;  // tokens
  int64_t preemptions = 0;
  int64_t num_running = 0, num_waiting = 0;
  double kv_usage = 0;  // fraction of KV blocks held
  std::array<int64_t, 3> finished_by_reason{};  // indexed by FinishReason
  // Sums of the per-step figures.
  int64_t prefill_tokens = 0, decode_tokens = 0, layer_rows = 0;
  int64_t moe_calls = 0, experts_touched = 0, expert_bytes = 0;
  double busy_seconds = 0;
  // Speculative decoding, as vLLM counts it: drafts verified (one per
  // sequence and step that had one), their tokens, the tokens accepted, and
  // accepted ones by position in the draft (index 0 = first proposed token).
  int64_t spec_num_drafts = 0, spec_num_draft_tokens = 0, spec_num_accepted_tokens = 0;
  std::vector<int64_t> spec_accepted_per_pos;
};

}  // namespace strata
