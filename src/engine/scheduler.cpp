#include "engine/scheduler.h"

#include <algorithm>

#include "core/check.h"
#include "core/error.h"
#include "core/service_errors.h"

namespace strata {

StageRule parse_stage_rule(std::string_view name) {
  if (name == "paper") return StageRule::Paper;
  if (name == "pow2") return StageRule::PowerOfTwo;
  fail("unknown stage rule '{}' (expected paper or pow2)", name);
}

int32_t num_prefill_stages(StageRule rule, int32_t tokens, int32_t tokens_per_stage, int32_t max_stages) {
  int32_t stages = std::max(1, (tokens + tokens_per_stage - 1) / tokens_per_stage);
  if (rule == StageRule::PowerOfTwo) {
    int32_t power = 1;
    while (power < stages) power *= 2;
    stages = power;
  }
  return std::clamp(stages, 1, max_stages);
}

std::pair<int32_t, int32_t> layer_group(int32_t num_layers, int32_t num_groups, int32_t index) {
  const int32_t size = num_layers / num_groups, larger = num_layers % num_groups;
  const int32_t begin = index * size + std::min(index, larger);
  return {begin, begin + size + (index < larger ? 1 : 0)};
}

void SchedulerConfig::validate() const {
  if (num_layers <= 0) fail("scheduler: the model has no layers");
  if (max_model_len <= 0) fail("scheduler: max model length must be positive (got {})", max_model_len);
  if (max_num_seqs <= 0) fail("scheduler: --max-num-seqs must be positive (got {})", max_num_seqs);
  if (max_num_batched_tokens <= 0) {
    fail("scheduler: --max-num-batched-tokens must be positive (got {})", max_num_batched_tokens);
  }
  if (num_stages <= 0) fail("scheduler: --num-stages must be positive (got {})", num_stages);
  if (tokens_per_stage <= 0) fail("scheduler: tokens per stage must be positive (got {})", tokens_per_stage);
  if (!(tbt_slo_seconds >= 0)) fail("scheduler: --tbt-slo-ms must not be negative");
}

// --- SchedulerState ---------------------------------------------------------

bool SchedulerState::reserve(Sequence& seq, int32_t num_tokens, StepPlan& plan) {
  while (!blocks.can_allocate(seq, num_tokens)) {
    auto victim = std::find_if(running.rbegin(), running.rend(),
                               [&](Sequence* s) { return s != &seq && !plan.contains(s); });
    if (victim == running.rend()) {
      preempt(seq, plan);
      return false;
    }
    preempt(**victim, plan);
  }
  blocks.allocate(seq, num_tokens);
  return true;
}

void SchedulerState::preempt(Sequence& seq, StepPlan& plan) {
  blocks.free(seq);
  if (seq.prefill_stage.in_flight()) plan.dropped_activations.push_back(seq.id);
  seq.prefill_stage = {};
  seq.draft.clear();
  seq.num_computed_tokens = 0;
  seq.state = SeqState::Waiting;
  seq.num_preemptions++;
  running.erase(std::find(running.begin(), running.end(), &seq));
  waiting.push_front(&seq);
  plan.preempted.push_back(seq.id);
}

SchedulerState::Admission SchedulerState::admit_front(int32_t max_new_tokens, bool allow_partial) {
  if (waiting.empty() || int32_t(running.size()) >= config.max_num_seqs) return {};
  Sequence& seq = *waiting.front();
  const PrefixMatch prefix = blocks.match_prefix(seq);
  const int32_t computed = int32_t(prefix.blocks.size()) * blocks.block_size();
  const int32_t remaining = seq.num_tokens() - computed;
  const int32_t num_new = std::min(remaining, max_new_tokens);
  if (num_new <= 0 || (!allow_partial && num_new < remaining)) return {};
  if (!blocks.allocate(seq, computed + num_new, prefix)) return {};
  waiting.pop_front();
  running.push_back(&seq);
  seq.state = SeqState::Prefilling;
  return {&seq, num_new};
}

std::vector<Sequence*> SchedulerState::running_decodes() const {
  std::vector<Sequence*> out;
  for (Sequence* s : running) {
    if (s->state == SeqState::Decoding) out.push_back(s);
  }
  return out;
}

std::vector<Sequence*> SchedulerState::running_prefills() const {
  std::vector<Sequence*> out;
  for (Sequence* s : running) {
    if (s->state == SeqState::Prefilling) out.push_back(s);
  }
  return out;
}

void SchedulerState::add_entry(StepPlan& plan, Sequence& seq, int32_t begin, int32_t end, int32_t layer_begin,
                               int32_t layer_end) const {
  PlanEntry e;
  e.seq = &seq;
  e.token_begin = begin;
  e.token_end = end;
  e.layer_begin = layer_begin;
  e.layer_end = layer_end;
  e.is_prefill = seq.state != SeqState::Decoding;  // a waiting sequence is priced before admission
  e.load_activations = layer_begin > 0;
  e.keep_activations = layer_end < config.num_layers;
  e.needs_logits = layer_end == config.num_layers && end == seq.num_tokens();
  (e.is_prefill ? plan.num_prefill_tokens : plan.num_decode_tokens) += end - begin;
  plan.entries.push_back(e);
}

bool SchedulerState::add_decode(StepPlan& plan, Sequence& seq, int32_t max_tokens) {
  const int32_t n = seq.num_tokens();
  const int32_t room = std::min(max_tokens - 1, config.max_model_len - n);
  if (int32_t(seq.draft.size()) > room) seq.draft.resize(size_t(std::max(0, room)));
  if (!seq.draft.empty() && !blocks.can_allocate(seq, n + int32_t(seq.draft.size()))) seq.draft.clear();
  const int32_t k = int32_t(seq.draft.size());
  if (!reserve(seq, n + k, plan)) return false;
  add_entry(plan, seq, n - 1, n + k, 0, config.num_layers);
  plan.entries.back().num_draft_tokens = k;
  plan.entries.back().needs_logits = true;
  return true;
}

// --- Scheduler --------------------------------------------------------------

Scheduler::Scheduler(const SchedulerConfig& config, BlockManager& blocks, std::unique_ptr<SchedulePolicy> policy)
    : state_(config, blocks), policy_(std::move(policy)) {
  config.validate();
}

void Scheduler::add(Sequence& seq) {
  const int64_t total = int64_t(seq.prompt.size()) + std::max(0, seq.max_tokens);
  if (seq.prompt.empty()) refuse("request {}: the prompt is empty", seq.id);
  if (total > state_.config.max_model_len) {
    refuse("request {}: prompt ({} tokens) + max_tokens ({}) exceeds the model's maximum length {}", seq.id,
         seq.prompt.size(), seq.max_tokens, state_.config.max_model_len);
  }
  const BlockManager& blocks = state_.blocks;
  if (total > int64_t(blocks.num_blocks()) * blocks.block_size()) {
    refuse("request {}: prompt ({} tokens) + max_tokens ({}) can never fit the KV cache ({} blocks of {} tokens); "
         "raise the KV memory budget",
         seq.id, seq.prompt.size(), seq.max_tokens, blocks.num_blocks(), blocks.block_size());
  }
  check(seq.state == SeqState::Waiting && seq.block_table.empty() && seq.num_computed_tokens == 0,
        "a request is added to the scheduler once, before it runs", "request {}", seq.id);
  state_.waiting.push_back(&seq);
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  plan.dropped_activations = std::move(dropped_activations_);
  dropped_activations_.clear();
  policy_->schedule(state_, plan);
  return plan;
}

void Scheduler::on_step_done(const StepPlan& plan, double seconds) {
  if (seconds > 0) policy_->on_step_timed(seconds);
  const int32_t num_layers = state_.config.num_layers;
  for (const PlanEntry& e : plan.entries) {
    Sequence& seq = *e.seq;
    PrefillStage& stage = seq.prefill_stage;
    if (stage.in_flight() && e.layer_end < num_layers) {
      // The next stage starts where this one ended; its default end is the
      // next equal group (layered), which the slo policy may move.
      stage.stage++;
      stage.layer_begin = e.layer_end;
      stage.layer_end = std::max(stage.layer_begin + 1,
                                 layer_group(num_layers, stage.num_stages, std::min(stage.stage, stage.num_stages - 1)).second);
      continue;
    }
    stage = {};
    if (e.layer_end == num_layers) {
      // A draft's tokens count once verified (on_draft_verified).
      seq.num_computed_tokens = e.token_end - e.num_draft_tokens;
      state_.blocks.cache_computed_blocks(seq);
    }
    if (e.needs_logits) seq.state = SeqState::Decoding;
  }
}

void Scheduler::on_draft_verified(Sequence& seq, int32_t num_accepted) {
  check(num_accepted >= 0 && num_accepted <= int32_t(seq.draft.size()) &&
            seq.num_computed_tokens + num_accepted + 1 == seq.num_tokens(),
        "a verified draft's accepted tokens and the next one were appended", "request {}: {} of {} accepted", seq.id,
        num_accepted, seq.draft.size());
  seq.num_computed_tokens += num_accepted;
  seq.draft.clear();
  state_.blocks.truncate(seq, seq.num_tokens());
  state_.blocks.cache_computed_blocks(seq);
}

void Scheduler::retire(Sequence& seq, SeqState final_state) {
  if (seq.prefill_stage.in_flight()) dropped_activations_.push_back(seq.id);
  seq.prefill_stage = {};
  std::erase(state_.waiting, &seq);
  std::erase(state_.running, &seq);
  state_.blocks.free(seq);
  seq.state = final_state;
}

// --- Factory ----------------------------------------------------------------

std::unique_ptr<SchedulePolicy> make_schedule_policy(std::string_view name, const StepSecondsEstimate& step_seconds) {
  if (name == "chunked") return std::make_unique<ChunkedPolicy>();
  if (name == "layered") return std::make_unique<LayeredPolicy>();
  if (name == "whole") return std::make_unique<WholePolicy>();
  if (name == "slo") {
    if (!step_seconds) fail("schedule 'slo' needs a step cost model (a calibrated profile of this machine)");
    return std::make_unique<SloPolicy>(step_seconds);
  }
  fail("unknown schedule '{}' (expected layered, chunked, whole or slo)", name);
}

int32_t default_max_num_batched_tokens(std::string_view policy) { return policy == "chunked" ? 512 : 8192; }

}  // namespace strata
