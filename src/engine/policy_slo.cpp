// Step sizing driven by a TBT target (see scheduler.h). Every step:
//   1. all decodes, through all layers; the step's limit is the target,
//      except that a step without decodes has none (no gap waits on it) and
//      a step may take up to 4x the target while fewer than 0.5% of the
//      decode gaps so far have exceeded it (the goal is the target for 99%
//      of gaps: a rare long step, where whole prefill is best, is allowed);
//   2. each in-flight prefill cohort (oldest first) advances through the
//      widest layer span the target still has room for; the oldest always
//      advances at least one layer, so prefill cannot starve;
//   3. if room is left, a new cohort starts at layer 0: of the candidate
//      sizes (each pending request's end; powers of two only when not even
//      the first request fits a layer), the one whose expected mean TTFT
//      over the queue is lowest, with its widest span.
//   Each step's real time then corrects the estimate (on_step_timed).
// On a machine where reading the experts dominates, large cohorts through
// few layers win (layered prefill); where compute dominates, a cohort's
// cost grows with its tokens x layers and small cohorts through all layers
// win (chunked prefill). Nothing is tuned per machine but the cost model.
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/scheduler.h"

namespace strata {

namespace {

// Aim below the target: the estimate is a fit with a few percent of error,
// and a step that overshoots misses the target for every running decode.
constexpr double kTargetShare = 0.9;
constexpr double kOverTargetGaps = 0.005, kOverTargetFactor = 4;
// The smallest cohort worth a step of its own, and how far ahead the TTFT
// estimate looks.
constexpr int32_t kMinCohortTokens = 16;
constexpr size_t kMaxPendingConsidered = 32;

struct Chunk {
  Sequence* seq = nullptr;
  int32_t begin = 0, end = 0;
};

// Prompt work not yet in flight, in FCFS order: running sequences with
// tokens left, then the waiting queue (after its prefix-cache hits).
std::vector<Chunk> pending_prompt_work(const SchedulerState& state) {
  std::vector<Chunk> pending;
  for (Sequence* seq : state.running_prefills()) {
    if (!seq->prefill_stage.in_flight()) pending.push_back({seq, seq->num_computed_tokens, seq->num_tokens()});
  }
  const size_t free_slots = size_t(std::max<int64_t>(0, state.config.max_num_seqs - int64_t(state.running.size())));
  for (size_t i = 0; i < state.waiting.size() && i < free_slots && pending.size() < kMaxPendingConsidered; ++i) {
    Sequence* seq = state.waiting[i];
    const int32_t cached = int32_t(state.blocks.match_prefix(*seq).blocks.size()) * state.blocks.block_size();
    pending.push_back({seq, cached, seq->num_tokens()});
  }
  return pending;
}

// The first `tokens` tokens of the pending work, the last request cut.
std::vector<Chunk> take_tokens(const std::vector<Chunk>& pending, int32_t tokens) {
  std::vector<Chunk> cohort;
  for (const Chunk& c : pending) {
    if (tokens <= 0) break;
    const int32_t n = std::min(c.end - c.begin, tokens);
    cohort.push_back({c.seq, c.begin, c.begin + n});
    tokens -= n;
  }
  return cohort;
}

}  // namespace

void SloPolicy::schedule(SchedulerState& state, StepPlan& plan) {
  for (Sequence* seq : state.running_decodes()) {
    if (seq->state == SeqState::Decoding) state.add_decode(plan, *seq);
  }
  const double tbt = state.config.tbt_slo_seconds;
  const int64_t decodes = int64_t(plan.entries.size());  // one gap each, however long its draft
  double target = kTargetShare * tbt;
  if (decodes == 0) {
    target = std::numeric_limits<double>::infinity();
  } else if (double(gaps_over_target_ + decodes) <= kOverTargetGaps * double(gaps_ + decodes)) {
    target *= kOverTargetFactor;
  }
  advance_in_flight(state, plan, target);
  const std::vector<Sequence*> prefills = state.running_prefills();
  const bool in_flight = std::any_of(prefills.begin(), prefills.end(),
                                     [](const Sequence* s) { return s->prefill_stage.in_flight(); });
  if (plan.preempted.empty() && (state.config.overlap_cohorts || !in_flight))
    start_cohort(state, plan, target, kTargetShare * tbt);
  last_estimate_ = plan.empty() ? 0 : step_seconds_(plan);
  last_decodes_ = decodes;
  last_over_target_ = last_estimate_ * correction_ > tbt;
  gaps_ += decodes;
  if (last_over_target_) gaps_over_target_ += decodes;
  tbt_ = tbt;
}

void SloPolicy::on_step_timed(double seconds) {
  if (!(last_estimate_ > 0)) return;
  // The gaps of this step count by its real time, not the estimate.
  if ((seconds > tbt_) != last_over_target_) gaps_over_target_ += last_over_target_ ? -last_decodes_ : last_decodes_;
  // A moving ratio of real to estimated step time: follows a change of load
  // within ~10 steps, and one odd step moves it little.
  const double ratio = std::clamp(seconds / last_estimate_, 0.25, 8.0);
  correction_ = 0.8 * correction_ + 0.2 * ratio;
}

void SloPolicy::advance_in_flight(SchedulerState& state, StepPlan& plan, double target) {
  const int32_t num_layers = state.config.num_layers;
  std::vector<Sequence*> in_flight;
  for (Sequence* seq : state.running_prefills()) {
    if (seq->prefill_stage.in_flight()) in_flight.push_back(seq);
  }
  // Members of one cohort stand at the same layer; older cohorts are deeper.
  std::stable_sort(in_flight.begin(), in_flight.end(), [](const Sequence* a, const Sequence* b) {
    return a->prefill_stage.layer_begin > b->prefill_stage.layer_begin;
  });
  bool first = true;
  for (size_t i = 0; i < in_flight.size();) {
    size_t j = i;
    const int32_t layer_begin = in_flight[i]->prefill_stage.layer_begin;
    while (j < in_flight.size() && in_flight[j]->prefill_stage.layer_begin == layer_begin) ++j;
    const auto with_span = [&](StepPlan& out, int32_t layer_end) {
      for (size_t k = i; k < j; ++k) {
        const PrefillStage& stage = in_flight[k]->prefill_stage;
        state.add_entry(out, *in_flight[k], stage.token_begin, stage.token_end, layer_begin, layer_end);
      }
    };
    // The widest span within the target (cost grows with the span).
    int32_t lo = layer_begin, hi = num_layers;
    while (lo < hi) {
      const int32_t mid = lo + (hi - lo + 1) / 2;
      StepPlan trial = plan;
      with_span(trial, mid);
      if (estimate(trial) <= target) lo = mid;
      else hi = mid - 1;
    }
    if (lo == layer_begin && first) lo = layer_begin + 1;
    if (lo > layer_begin) {
      for (size_t k = i; k < j; ++k) in_flight[k]->prefill_stage.layer_end = lo;
      with_span(plan, lo);
    }
    first = false;
    i = j;
  }
}

void SloPolicy::start_cohort(SchedulerState& state, StepPlan& plan, double target, double stage_target) {
  const SchedulerConfig& config = state.config;
  const int32_t num_layers = config.num_layers;
  const std::vector<Chunk> pending = pending_prompt_work(state);
  if (pending.empty()) return;
  std::vector<int32_t> ends;  // cumulative token count at each pending request's end
  for (const Chunk& c : pending) ends.push_back((ends.empty() ? 0 : ends.back()) + c.end - c.begin);
  const int32_t most = std::min(ends.back(), config.max_num_batched_tokens);

  const auto with_cohort = [&](StepPlan& out, const std::vector<Chunk>& cohort, int32_t layer_end) {
    for (const Chunk& c : cohort) state.add_entry(out, *c.seq, c.begin, c.end, 0, layer_end);
  };
  struct Choice {
    int32_t tokens = 0, layer_end = 0;
    double score = std::numeric_limits<double>::infinity();
  } best;
  const auto consider = [&](int32_t tokens) {
    const std::vector<Chunk> cohort = take_tokens(pending, tokens);
    int32_t lo = 0, hi = num_layers;
    double seconds = 0;
    while (lo < hi) {
      const int32_t mid = lo + (hi - lo + 1) / 2;
      StepPlan trial = plan;
      with_cohort(trial, cohort, mid);
      const double s = estimate(trial);
      if (s <= target) lo = mid, seconds = s;
      else hi = mid - 1;
    }
    if (lo == 0) return;
    if (lo < num_layers) {
      // Later stages run at the plain target (a step over it is the
      // exception): one layer of this cohort beside the decodes must fit it.
      StepPlan one_layer = plan;
      with_cohort(one_layer, cohort, 1);
      if (estimate(one_layer) > stage_target) return;
    }
    // Repeating this choice, request i gets its first token after
    // ceil(end_i / tokens) cohorts of ceil(layers / span) steps each.
    const double steps_per_cohort = std::ceil(double(num_layers) / lo);
    double total = 0;
    for (int32_t end : ends) total += std::ceil(double(end) / tokens) * steps_per_cohort * seconds;
    const double score = total / double(ends.size());
    if (score <= best.score) best = {tokens, lo, score};
  };
  // Whole requests first. A cut request pays for its later chunks'
  // attention over the earlier ones, which the score above does not see, so
  // cuts are tried only when not even the first request fits one layer.
  for (int32_t end : ends) {
    if (end <= most) consider(end);
  }
  if (best.tokens == 0) {
    for (int32_t t = kMinCohortTokens; t < most; t *= 2) consider(t);
    consider(most);
  }
  if (best.tokens == 0) {
    // Nothing fits beside this step's decodes: if no prefill runs at all,
    // the smallest cohort still takes one layer, so prompts cannot starve.
    if (plan.num_prefill_tokens > 0) return;
    best = {std::min(kMinCohortTokens, ends.front()), 1, 0};
  }

  int32_t budget = best.tokens;
  std::vector<Chunk> admitted;
  for (const Chunk& c : take_tokens(pending, best.tokens)) {
    if (c.seq->state == SeqState::Prefilling) {
      if (!state.reserve(*c.seq, c.end, plan)) continue;
      admitted.push_back(c);
      budget -= c.end - c.begin;
      continue;
    }
    if (!plan.preempted.empty() || budget <= 0) break;
    const SchedulerState::Admission a = state.admit_front(budget, /*allow_partial=*/true);
    if (!a.seq) break;
    const int32_t begin = a.seq->num_computed_tokens;
    admitted.push_back({a.seq, begin, begin + a.num_new_tokens});
    budget -= a.num_new_tokens;
  }
  // A preemption above may have taken a member that had already joined.
  std::erase_if(admitted, [](const Chunk& c) { return c.seq->state != SeqState::Prefilling; });
  const int32_t span = best.layer_end;
  for (const Chunk& c : admitted) {
    if (span < num_layers) {
      const int32_t stages = (num_layers + span - 1) / span;
      c.seq->prefill_stage = {c.begin, c.end, 0, stages, 0, span};
    }
    state.add_entry(plan, *c.seq, c.begin, c.end, 0, span);
  }
}

}  // namespace strata
