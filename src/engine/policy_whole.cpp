// Orca-style whole-prompt prefill (see scheduler.h).
#include "engine/scheduler.h"

namespace strata {

void WholePolicy::schedule(SchedulerState& state, StepPlan& plan) {
  const int32_t num_layers = state.config.num_layers;
  for (Sequence* seq : state.running_decodes()) {
    if (seq->state == SeqState::Decoding) state.add_decode(plan, *seq);
  }
  // Every admitted prompt completes in its step, so no sequence is left
  // partially prefilled; recomputed ones come back through the waiting queue.
  int32_t cap = state.config.max_model_len;
  while (cap > 0 && plan.preempted.empty()) {
    const SchedulerState::Admission admitted = state.admit_front(cap, /*allow_partial=*/false);
    if (!admitted.seq) break;
    const int32_t begin = admitted.seq->num_computed_tokens;
    state.add_entry(plan, *admitted.seq, begin, begin + admitted.num_new_tokens, 0, num_layers);
    cap -= admitted.num_new_tokens;
  }
}

}  // namespace strata
