// vLLM V1 chunked prefill (see scheduler.h).
#include <algorithm>

#include "engine/scheduler.h"

namespace strata {

void ChunkedPolicy::schedule(SchedulerState& state, StepPlan& plan) {
  const int32_t num_layers = state.config.num_layers;
  int32_t budget = state.config.max_num_batched_tokens;
  for (Sequence* seq : state.running_decodes()) {
    if (budget == 0) break;
    // A decode costs one token, plus its draft's.
    if (seq->state == SeqState::Decoding && state.add_decode(plan, *seq, budget)) budget -= plan.entries.back().num_tokens();
  }
  for (Sequence* seq : state.running_prefills()) {
    if (budget == 0) break;
    if (seq->state != SeqState::Prefilling) continue;  // preempted meanwhile
    const int32_t begin = seq->num_computed_tokens;
    const int32_t end = begin + std::min(seq->num_tokens() - begin, budget);
    if (!state.reserve(*seq, end, plan)) continue;
    state.add_entry(plan, *seq, begin, end, 0, num_layers);
    budget -= end - begin;
  }
  // Like vLLM, a step that had to preempt admits nothing new.
  while (budget > 0 && plan.preempted.empty()) {
    const SchedulerState::Admission admitted = state.admit_front(budget, /*allow_partial=*/true);
    if (!admitted.seq) break;
    const int32_t begin = admitted.seq->num_computed_tokens;
    state.add_entry(plan, *admitted.seq, begin, begin + admitted.num_new_tokens, 0, num_layers);
    budget -= admitted.num_new_tokens;
  }
}

}  // namespace strata
