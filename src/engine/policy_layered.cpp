// Layered prefill (arXiv 2510.08055; see docs/layered-prefill.md and scheduler.h).
#include <algorithm>

#include "engine/scheduler.h"

namespace strata {

void LayeredPolicy::schedule(SchedulerState& state, StepPlan& plan) {
  for (Sequence* seq : state.running_decodes()) {
    if (seq->state == SeqState::Decoding) state.add_decode(plan, *seq);
  }
  bool in_flight = false;
  for (Sequence* seq : state.running_prefills()) {
    const PrefillStage& stage = seq->prefill_stage;
    if (!stage.in_flight()) continue;
    // Its blocks were reserved at admission: the next stage needs nothing new.
    state.add_entry(plan, *seq, stage.token_begin, stage.token_end, stage.layer_begin, stage.layer_end);
    in_flight = true;
  }
  if (!in_flight && plan.preempted.empty()) admit_cohort(state, plan);
}

// Partially prefilled sequences first, then waiting ones, up to the token
// budget; the cohort then shares one stage count and one layer group per step.
void LayeredPolicy::admit_cohort(SchedulerState& state, StepPlan& plan) {
  struct Member {
    Sequence* seq;
    int32_t begin, end;
  };
  std::vector<Member> cohort;
  int32_t budget = state.config.max_num_batched_tokens;
  for (Sequence* seq : state.running_prefills()) {
    if (budget == 0) break;
    if (seq->state != SeqState::Prefilling) continue;  // preempted meanwhile
    const int32_t begin = seq->num_computed_tokens;
    const int32_t end = begin + std::min(seq->num_tokens() - begin, budget);
    if (!state.reserve(*seq, end, plan)) continue;
    cohort.push_back({seq, begin, end});
    budget -= end - begin;
  }
  while (budget > 0 && plan.preempted.empty()) {
    const SchedulerState::Admission admitted = state.admit_front(budget, /*allow_partial=*/true);
    if (!admitted.seq) break;
    const int32_t begin = admitted.seq->num_computed_tokens;
    cohort.push_back({admitted.seq, begin, begin + admitted.num_new_tokens});
    budget -= admitted.num_new_tokens;
  }
  // A preemption above may have taken a member that had already joined.
  std::erase_if(cohort, [](const Member& m) { return m.seq->state != SeqState::Prefilling; });
  if (cohort.empty()) return;

  const SchedulerConfig& config = state.config;
  int32_t tokens = 0;
  for (const Member& m : cohort) tokens += m.end - m.begin;
  const int32_t num_stages = num_prefill_stages(config.stage_rule, tokens, config.tokens_per_stage,
                                                std::min(config.num_stages, config.num_layers));
  const auto [layer_begin, layer_end] = layer_group(config.num_layers, num_stages, 0);
  for (const Member& m : cohort) {
    if (num_stages > 1) m.seq->prefill_stage = {m.begin, m.end, 0, num_stages, layer_begin, layer_end};
    state.add_entry(plan, *m.seq, m.begin, m.end, layer_begin, layer_end);
  }
}

}  // namespace strata
