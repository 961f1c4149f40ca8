#pragma once
// Continuous-batching scheduler: the waiting and running queues, admission
// against the block manager, preemption by recompute, and the bookkeeping
// after each step are shared; what runs in a step is decided by a
// SchedulePolicy (chunked, layered or whole; see docs/layered-prefill.md).
//
// The engine loop, one step at a time:
//   scheduler.add(seq)                 // new request; throws Error if it can never fit
//   plan = scheduler.schedule();       // empty plan: nothing to run
//   executor runs plan                 // see step_plan.h
//   scheduler.on_step_done(plan);      // advances sequences, caches finished blocks
//   for entries with needs_logits: sample, append to seq.output, and
//     scheduler.finish(seq) when the engine decides it is done;
//     after verifying a draft, scheduler.on_draft_verified(seq, accepted)
//   scheduler.abort(seq)               // cancellation, between steps only
#include <climits>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/block_manager.h"
#include "engine/sequence.h"
#include "engine/step_plan.h"

namespace strata {

// How a layered-prefill cohort's stage count follows its token count T.
enum class StageRule {
  Paper,       // max(1, ceil(T / tokens_per_stage))
  PowerOfTwo,  // the same rounded up to a power of two (the reference code)
};
// "paper" or "pow2"; throws Error otherwise.
StageRule parse_stage_rule(std::string_view name);
// Stages for a cohort of `tokens` tokens, between 1 and max_stages.
int32_t num_prefill_stages(StageRule rule, int32_t tokens, int32_t tokens_per_stage, int32_t max_stages);
// Layers of group `index` when num_layers are split into num_groups
// contiguous groups of near-equal size, larger ones first (numpy.array_split).
std::pair<int32_t, int32_t> layer_group(int32_t num_layers, int32_t num_groups, int32_t index);

struct SchedulerConfig {
  int32_t num_layers = 0;
  int32_t max_model_len = 0;  // prompt + generated tokens
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 8192;  // token budget of a step (chunked, layered)
  // Layered prefill: G, the most stages a cohort is split into (capped at num_layers).
  int32_t num_stages = 16;
  StageRule stage_rule = StageRule::Paper;
  int32_t tokens_per_stage = 512;
  // slo: the time-between-tokens target every step is sized to (seconds),
  // and whether a new cohort may start while another is in flight (off
  // only to measure what that overlap is worth).
  double tbt_slo_seconds = 0;
  bool overlap_cohorts = true;

  // Throws Error naming the bad setting.
  void validate() const;
};

// The queues and the helpers policies build plans with.
class SchedulerState {
 public:
  SchedulerState(const SchedulerConfig& config, BlockManager& blocks) : config(config), blocks(blocks) {}

  SchedulerConfig config;
  BlockManager& blocks;
  std::deque<Sequence*> waiting;  // FCFS; preempted sequences return to the front
  std::vector<Sequence*> running;  // in admission order, oldest first

  // Extends a running sequence's blocks to cover num_tokens positions,
  // preempting the newest running sequences not yet in `plan` while blocks
  // are short. Returns false when `seq` itself had to be preempted.
  bool reserve(Sequence& seq, int32_t num_tokens, StepPlan& plan);
  // Drops seq's blocks and activations and queues it for recompute.
  void preempt(Sequence& seq, StepPlan& plan);

  struct Admission {
    Sequence* seq = nullptr;  // null: the front waiting sequence cannot be admitted now
    int32_t num_new_tokens = 0;
  };
  // Moves the front waiting sequence to running with its prefix-cache hit
  // and blocks for up to max_new_tokens further tokens (all of its remaining
  // tokens unless allow_partial). Never preempts.
  Admission admit_front(int32_t max_new_tokens, bool allow_partial);

  // Snapshots of running sequences by kind, safe to iterate while preempting.
  std::vector<Sequence*> running_decodes() const;
  std::vector<Sequence*> running_prefills() const;

  // Appends an entry for tokens [begin, end) of seq through layers [a, b).
  void add_entry(StepPlan& plan, Sequence& seq, int32_t begin, int32_t end, int32_t layer_begin,
                 int32_t layer_end) const;
  // Schedules seq's newest token through all layers, followed by its draft
  // (trimmed to max_tokens rows in all, to max_model_len, and dropped when
  // its blocks are not free: a draft never preempts); false if preempted.
  bool add_decode(StepPlan& plan, Sequence& seq, int32_t max_tokens = INT32_MAX);
};

class SchedulePolicy {
 public:
  virtual ~SchedulePolicy() = default;
  virtual std::string_view name() const = 0;
  // Fills `plan` for one step from the queues.
  virtual void schedule(SchedulerState& state, StepPlan& plan) = 0;
  // How long the last plan took to run (policies that size steps by time learn from it).
  virtual void on_step_timed(double /*seconds*/) {}
};

// vLLM V1: decodes, then partially prefilled sequences, then waiting ones,
// all within max_num_batched_tokens (a decode costs one token); the last
// admitted prompt is chunked to fit.
class ChunkedPolicy : public SchedulePolicy {
 public:
  std::string_view name() const override { return "chunked"; }
  void schedule(SchedulerState& state, StepPlan& plan) override;
};

// Orca-style: decodes, plus whole prompts through all layers in one step
// (at most max_model_len prompt tokens per step, a sanity cap).
class WholePolicy : public SchedulePolicy {
 public:
  std::string_view name() const override { return "whole"; }
  void schedule(SchedulerState& state, StepPlan& plan) override;
};

// Layered prefill: decodes through all layers every step; one cohort of
// prefill chunks (up to max_num_batched_tokens tokens) advances one layer
// group per step and nothing is admitted while it is in flight.
class LayeredPolicy : public SchedulePolicy {
 public:
  std::string_view name() const override { return "layered"; }
  void schedule(SchedulerState& state, StepPlan& plan) override;

 private:
  void admit_cohort(SchedulerState& state, StepPlan& plan);
};

// Predicted seconds for the executor to run a plan: a cost model fitted to
// this machine (sim/cost_model.h through engine_step_estimate.h).
using StepSecondsEstimate = std::function<double(const StepPlan&)>;

// Step sizing driven by a TBT target: decodes every step, and as much
// prefill as the estimate says fits in the target (which 99% of decode gaps
// must meet: a rare step may take longer, see policy_slo.cpp). A prefill cohort runs
// through a layer span of its own choosing per step (one layer up to all),
// so it is layered prefill where reading the experts dominates and chunked
// prefill where compute does; a new cohort may start at layer 0 while an
// older one is in later layers (no head-of-line blocking). See policy_slo.cpp.
class SloPolicy : public SchedulePolicy {
 public:
  explicit SloPolicy(StepSecondsEstimate step_seconds) : step_seconds_(std::move(step_seconds)) {}
  std::string_view name() const override { return "slo"; }
  void schedule(SchedulerState& state, StepPlan& plan) override;
  void on_step_timed(double seconds) override;

 private:
  // The estimate, scaled by how far real steps have run from it lately (a
  // profile fitted on a quiet machine underprices steps on a loaded one).
  double estimate(const StepPlan& plan) const { return step_seconds_(plan) * correction_; }
  void advance_in_flight(SchedulerState& state, StepPlan& plan, double target);
  void start_cohort(SchedulerState& state, StepPlan& plan, double target, double stage_target);

  StepSecondsEstimate step_seconds_;
  // Decode gaps scheduled so far, and those in steps estimated over the target.
  int64_t gaps_ = 0, gaps_over_target_ = 0;
  double correction_ = 1, last_estimate_ = 0, tbt_ = 0;
  int64_t last_decodes_ = 0;
  bool last_over_target_ = false;
};

// "chunked", "layered", "whole" or "slo" (which needs `step_seconds`);
// throws Error otherwise.
std::unique_ptr<SchedulePolicy> make_schedule_policy(std::string_view name,
                                                     const StepSecondsEstimate& step_seconds = {});
// The token budget each policy defaults to: the paper's 512 for chunked,
// 8192 for layered and slo (the most prompt tokens one cohort takes; whole
// ignores it).
int32_t default_max_num_batched_tokens(std::string_view policy);

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, BlockManager& blocks, std::unique_ptr<SchedulePolicy> policy);

  // Queues a new sequence (state Waiting, no blocks). Throws Error when
  // prompt + max_tokens exceeds max_model_len or the whole KV cache.
  void add(Sequence& seq);
  StepPlan schedule();
  // Records that the executor ran `plan` (in `seconds`, when timed):
  // computed tokens, stage advance, prefix-cache registration,
  // prefilling -> decoding.
  void on_step_done(const StepPlan& plan, double seconds = 0);
  // Releases a sequence the engine has finished (Finished) or cancelled (Aborted).
  void finish(Sequence& seq) { retire(seq, SeqState::Finished); }
  // After a step verified seq's draft and the engine appended the accepted
  // tokens and the one sampled after them to seq.output: the accepted
  // tokens' KV counts as computed, the rejected ones' blocks are released.
  void on_draft_verified(Sequence& seq, int32_t num_accepted);
  void abort(Sequence& seq) { retire(seq, SeqState::Aborted); }

  bool has_unfinished() const { return !state_.waiting.empty() || !state_.running.empty(); }
  size_t num_waiting() const { return state_.waiting.size(); }
  size_t num_running() const { return state_.running.size(); }
  const SchedulerState& state() const { return state_; }
  const SchedulePolicy& policy() const { return *policy_; }

 private:
  void retire(Sequence& seq, SeqState final_state);

  SchedulerState state_;
  std::unique_ptr<SchedulePolicy> policy_;
  std::vector<int64_t> dropped_activations_;  // from aborts, handed out with the next plan
};

}  // namespace strata
