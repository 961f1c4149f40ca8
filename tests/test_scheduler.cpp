// Scheduler policies on scripted arrivals, run by a fake executor that checks
// every plan the way a real executor relies on it (token and layer ranges,
// reserved blocks, activations handed between stages) and appends a token
// for every entry that needs logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "core/error.h"
#include "engine/scheduler.h"

using namespace strata;

namespace {

struct Range {
  int32_t begin, end;
  bool operator==(const Range&) const = default;
};

// A toy machine for the slo policy: each layer a segment runs costs a fixed
// time (reading its weights) plus a time per row (compute).
struct ToyMachine {
  double per_layer = 0, per_row_layer = 0;
  double operator()(const StepPlan& plan) const {
    double seconds = 0;
    for (const LayerSegment& s : layer_segments(plan)) {
      int64_t rows = 0;
      for (int32_t i : s.entries) rows += plan.entries[size_t(i)].num_tokens();
      seconds += (s.layer_end - s.layer_begin) * (per_layer + double(rows) * per_row_layer);
    }
    return seconds;
  }
};
// Reading weights dominates (an H100 with BF16 experts) or compute does (a CPU).
constexpr ToyMachine kBandwidthBound{2e-3, 1e-6}, kComputeBound{1e-4, 5e-5};

class Harness {
 public:
  Harness(std::string_view policy, SchedulerConfig config, int32_t num_blocks, int32_t block_size = 16,
          bool prefix_caching = true, ToyMachine machine = kComputeBound)
      : machine_(machine),
        policy_(policy),
        config_(config),
        blocks_(num_blocks, block_size, prefix_caching),
        scheduler_(config, blocks_, make_schedule_policy(policy, machine)) {}

  Sequence& submit(int32_t prompt_len, int32_t max_tokens, int32_t first_token = 1) {
    auto seq = std::make_unique<Sequence>();
    seq->id = int64_t(seqs_.size());
    for (int32_t i = 0; i < prompt_len; ++i) seq->prompt.push_back(first_token + i);
    seq->max_tokens = max_tokens;
    scheduler_.add(*seq);
    seqs_.push_back(std::move(seq));
    return *seqs_.back();
  }

  // One engine step: schedule, check and "run" the plan, advance, sample.
  StepPlan step() {
    StepPlan plan = scheduler_.schedule();
    execute(plan);
    scheduler_.on_step_done(plan, plan.empty() ? 0 : machine_(plan) * slowdown);
    for (const PlanEntry& e : plan.entries) {
      if (!e.needs_logits) continue;
      Sequence& seq = *e.seq;
      seq.output.push_back(7000 + int32_t(seq.output.size()));
      if (int32_t(seq.output.size()) >= seq.max_tokens) scheduler_.finish(seq);
    }
    std::vector<const Sequence*> holders;
    for (const auto& s : seqs_) holders.push_back(s.get());
    blocks_.check_consistency(holders);
    return plan;
  }

  // Steps until every request finished; returns the number of steps.
  int run_to_completion(int max_steps = 100000) {
    int steps = 0;
    while (scheduler_.has_unfinished()) {
      EXPECT_LT(steps++, max_steps) << "no progress";
      if (steps > max_steps) break;
      step();
    }
    EXPECT_TRUE(saved_.empty()) << "activations leaked";
    return steps;
  }

  Scheduler& scheduler() { return scheduler_; }
  // Steps "run" this many times slower than the machine the policy was given.
  double slowdown = 1;
  BlockManager& blocks() { return blocks_; }

 private:
  // The fake executor: what a real one would trip over is a test failure.
  void execute(const StepPlan& plan) {
    for (int64_t id : plan.dropped_activations) saved_.erase(id);
    const int32_t L = config_.num_layers;
    std::map<const Sequence*, int> seen;
    for (const PlanEntry& e : plan.entries) {
      const Sequence& seq = *e.seq;
      ASSERT_EQ(seen[&seq]++, 0) << "sequence " << seq.id << " scheduled twice";
      ASSERT_FALSE(seq.is_finished());
      ASSERT_LT(e.token_begin, e.token_end);
      ASSERT_LE(e.token_end, seq.num_tokens());
      ASSERT_TRUE(0 <= e.layer_begin && e.layer_begin < e.layer_end && e.layer_end <= L);
      ASSERT_GE(int32_t(seq.block_table.size()) * blocks_.block_size(), e.token_end) << "KV slots not reserved";
      if (!e.is_prefill) {
        ASSERT_EQ((Range{e.layer_begin, e.layer_end}), (Range{0, L})) << "decodes run all layers";
      }
      if (e.load_activations) {
        auto it = saved_.find(seq.id);
        ASSERT_NE(it, saved_.end()) << "no activations for sequence " << seq.id;
        ASSERT_EQ(it->second.tokens, (Range{e.token_begin, e.token_end}));
        ASSERT_EQ(it->second.layer_end, e.layer_begin);
        saved_.erase(it);
      } else {
        // Embedding starts at layer 0 and at the first token without KV.
        ASSERT_EQ(e.layer_begin, 0);
        ASSERT_EQ(e.token_begin, seq.num_computed_tokens);
        ASSERT_EQ(saved_.count(seq.id), 0u);
      }
      if (e.keep_activations) saved_[seq.id] = {{e.token_begin, e.token_end}, e.layer_end};
      // Only layered and slo prefill run part of the layers; layered one group for the whole cohort.
      if (e.is_prefill && policy_ != "layered" && policy_ != "slo") {
        ASSERT_EQ((Range{e.layer_begin, e.layer_end}), (Range{0, L}));
      }
      if (e.is_prefill && policy_ == "layered") {
        const PlanEntry& first = *std::find_if(plan.entries.begin(), plan.entries.end(),
                                               [](const PlanEntry& x) { return x.is_prefill; });
        ASSERT_EQ((Range{e.layer_begin, e.layer_end}), (Range{first.layer_begin, first.layer_end}));
      }
      ASSERT_EQ(e.needs_logits, e.layer_end == L && e.token_end == seq.num_tokens());
    }
  }

  struct Saved {
    Range tokens;
    int32_t layer_end;
  };
  ToyMachine machine_;
  std::string_view policy_;
  SchedulerConfig config_;
  BlockManager blocks_;
  Scheduler scheduler_;
  std::vector<std::unique_ptr<Sequence>> seqs_;
  std::map<int64_t, Saved> saved_;
};

SchedulerConfig config_for(int32_t num_layers, int32_t budget, int32_t num_stages = 16) {
  SchedulerConfig c;
  c.num_layers = num_layers;
  c.max_model_len = 32768;
  c.max_num_batched_tokens = budget;
  c.num_stages = num_stages;
  c.tbt_slo_seconds = 0.1;
  return c;
}

const PlanEntry* find_entry(const StepPlan& plan, const Sequence& seq) {
  for (const PlanEntry& e : plan.entries) {
    if (e.seq == &seq) return &e;
  }
  return nullptr;
}

// Brings one short request to decoding so later steps carry a decode.
Sequence& start_decoder(Harness& h, int32_t max_tokens = 1000) {
  Sequence& d = h.submit(8, max_tokens, 50000);
  h.step();
  EXPECT_EQ(d.state, SeqState::Decoding);
  return d;
}

}  // namespace

TEST(StageRules, PaperAndPowerOfTwo) {
  EXPECT_EQ(num_prefill_stages(StageRule::Paper, 1, 512, 16), 1);
  EXPECT_EQ(num_prefill_stages(StageRule::Paper, 512, 512, 16), 1);
  EXPECT_EQ(num_prefill_stages(StageRule::Paper, 1500, 512, 16), 3);
  EXPECT_EQ(num_prefill_stages(StageRule::Paper, 2048, 512, 16), 4);
  EXPECT_EQ(num_prefill_stages(StageRule::Paper, 8192, 512, 16), 16);
  EXPECT_EQ(num_prefill_stages(StageRule::Paper, 9000, 512, 16), 16);
  EXPECT_EQ(num_prefill_stages(StageRule::PowerOfTwo, 513, 512, 16), 2);
  EXPECT_EQ(num_prefill_stages(StageRule::PowerOfTwo, 1500, 512, 16), 4);
  EXPECT_EQ(num_prefill_stages(StageRule::PowerOfTwo, 4096, 512, 16), 8);
  EXPECT_EQ(num_prefill_stages(StageRule::PowerOfTwo, 4097, 512, 16), 16);
  EXPECT_EQ(num_prefill_stages(StageRule::PowerOfTwo, 4097, 512, 12), 12);
  EXPECT_EQ(parse_stage_rule("pow2"), StageRule::PowerOfTwo);
  EXPECT_THROW(parse_stage_rule("fast"), Error);
  EXPECT_THROW(make_schedule_policy("fifo"), Error);
  EXPECT_THROW(make_schedule_policy("slo"), Error) << "slo without a cost model";
}

TEST(StageRules, LayerGroupsAreArraySplit) {
  // numpy.array_split(range(10), 4) -> [0,3) [3,6) [6,8) [8,10)
  EXPECT_EQ(layer_group(10, 4, 0), std::make_pair(0, 3));
  EXPECT_EQ(layer_group(10, 4, 1), std::make_pair(3, 6));
  EXPECT_EQ(layer_group(10, 4, 2), std::make_pair(6, 8));
  EXPECT_EQ(layer_group(10, 4, 3), std::make_pair(8, 10));
  EXPECT_EQ(layer_group(48, 16, 15), std::make_pair(45, 48));
}

TEST(StepPlan, LayerSegmentsCutAtEveryBoundary) {
  Sequence a, b;
  StepPlan plan;
  plan.entries.push_back({&a, 0, 100, 4, 8});
  plan.entries.push_back({&b, 9, 10, 0, 16});
  const std::vector<LayerSegment> segments = layer_segments(plan);
  ASSERT_EQ(segments.size(), 3u);
  EXPECT_EQ(segments[0].layer_begin, 0);
  EXPECT_EQ(segments[0].layer_end, 4);
  EXPECT_EQ(segments[0].entries, std::vector<int32_t>{1});
  EXPECT_EQ(segments[1].entries, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(segments[2].layer_begin, 8);
  EXPECT_EQ(segments[2].entries, std::vector<int32_t>{1});
}

TEST(LayeredPolicy, PromptOf2048RunsFourStagesWhileDecodesRunEveryStep) {
  Harness h("layered", config_for(16, 8192), 1024);
  Sequence& d = start_decoder(h);
  Sequence& p = h.submit(2048, 4);
  const Range groups[] = {{0, 4}, {4, 8}, {8, 12}, {12, 16}};
  for (int s = 0; s < 4; ++s) {
    const StepPlan plan = h.step();
    ASSERT_EQ(plan.entries.size(), 2u);
    const PlanEntry* decode = find_entry(plan, d);
    ASSERT_TRUE(decode);
    EXPECT_EQ((Range{decode->layer_begin, decode->layer_end}), (Range{0, 16}));
    EXPECT_TRUE(decode->needs_logits);
    const PlanEntry* prefill = find_entry(plan, p);
    ASSERT_TRUE(prefill);
    EXPECT_EQ((Range{prefill->token_begin, prefill->token_end}), (Range{0, 2048}));
    EXPECT_EQ((Range{prefill->layer_begin, prefill->layer_end}), groups[s]);
    EXPECT_EQ(prefill->needs_logits, s == 3);
    EXPECT_EQ(plan.num_prefill_tokens, 2048);
    EXPECT_EQ(plan.num_decode_tokens, 1);
    EXPECT_EQ(p.output.size(), s == 3 ? 1u : 0u) << "first token only after the last stage";
    EXPECT_EQ(p.num_computed_tokens, s == 3 ? 2048 : 0);
  }
  EXPECT_EQ(p.state, SeqState::Decoding);
  EXPECT_EQ(d.output.size(), 5u);
  h.run_to_completion();
}

TEST(LayeredPolicy, NoAdmissionWhileACohortIsInFlight) {
  Harness h("layered", config_for(16, 8192), 1024);
  Sequence& p = h.submit(2048, 2);
  StepPlan first = h.step();
  Sequence& late = h.submit(100, 2);
  for (int s = 1; s < 4; ++s) {
    const StepPlan plan = h.step();
    EXPECT_EQ(find_entry(plan, late), nullptr) << "admitted during stage " << s;
    EXPECT_EQ(late.state, SeqState::Waiting);
  }
  // The cohort is done: the newcomer (1 stage, <= 512 tokens) joins the next
  // step beside p's first decode.
  const StepPlan next = h.step();
  const PlanEntry* e = find_entry(next, late);
  ASSERT_TRUE(e);
  EXPECT_EQ((Range{e->layer_begin, e->layer_end}), (Range{0, 16}));
  EXPECT_TRUE(e->needs_logits);
  ASSERT_TRUE(find_entry(next, p));
  EXPECT_FALSE(find_entry(next, p)->is_prefill);
  h.run_to_completion();
}

TEST(LayeredPolicy, LongPromptIsTokenChunkedAtTheBudget) {
  Harness h("layered", config_for(16, 8192), 2048);
  Sequence& p = h.submit(10000, 2);
  Sequence& q = h.submit(300, 2, 20000);
  // First cohort: 8192 tokens of p, 16 one-layer stages; q waits.
  for (int s = 0; s < 16; ++s) {
    const StepPlan plan = h.step();
    ASSERT_EQ(plan.entries.size(), 1u);
    EXPECT_EQ((Range{plan.entries[0].token_begin, plan.entries[0].token_end}), (Range{0, 8192}));
    EXPECT_EQ((Range{plan.entries[0].layer_begin, plan.entries[0].layer_end}), (Range{s, s + 1}));
    EXPECT_FALSE(plan.entries[0].needs_logits);
  }
  EXPECT_EQ(p.num_computed_tokens, 8192);
  EXPECT_EQ(p.state, SeqState::Prefilling);
  // Second cohort: the partially prefilled rest (1808) first, then q: 2108
  // tokens -> 5 stages of the 16 layers.
  const Range groups[] = {{0, 4}, {4, 7}, {7, 10}, {10, 13}, {13, 16}};
  for (int s = 0; s < 5; ++s) {
    const StepPlan plan = h.step();
    ASSERT_EQ(plan.entries.size(), 2u);
    EXPECT_EQ(plan.entries[0].seq, &p);
    EXPECT_EQ((Range{plan.entries[0].token_begin, plan.entries[0].token_end}), (Range{8192, 10000}));
    EXPECT_EQ(plan.entries[1].seq, &q);
    for (const PlanEntry& e : plan.entries) {
      EXPECT_EQ((Range{e.layer_begin, e.layer_end}), groups[s]);
      EXPECT_EQ(e.needs_logits, s == 4);
    }
  }
  EXPECT_EQ(p.output.size(), 1u);
  EXPECT_EQ(q.output.size(), 1u);
  h.run_to_completion();
}

TEST(LayeredPolicy, PowerOfTwoRuleAndStageCap) {
  SchedulerConfig config = config_for(6, 8192, 4);
  config.stage_rule = StageRule::PowerOfTwo;
  Harness h("layered", config, 256);
  h.submit(1500, 1);  // ceil(1500/512) = 3 -> 4 stages over 6 layers
  const Range groups[] = {{0, 2}, {2, 4}, {4, 5}, {5, 6}};
  for (const Range& g : groups) {
    const StepPlan plan = h.step();
    ASSERT_EQ(plan.entries.size(), 1u);
    EXPECT_EQ((Range{plan.entries[0].layer_begin, plan.entries[0].layer_end}), g);
  }
  EXPECT_FALSE(h.scheduler().has_unfinished());
}

TEST(ChunkedPolicy, SplitsAPromptIntoBudgetSizedChunks) {
  Harness h("chunked", config_for(16, 512), 1024);
  Sequence& p = h.submit(2048, 2);
  for (int c = 0; c < 4; ++c) {
    const StepPlan plan = h.step();
    ASSERT_EQ(plan.entries.size(), 1u);
    const PlanEntry& e = plan.entries[0];
    EXPECT_EQ((Range{e.token_begin, e.token_end}), (Range{512 * c, 512 * (c + 1)}));
    EXPECT_EQ((Range{e.layer_begin, e.layer_end}), (Range{0, 16}));
    EXPECT_EQ(e.needs_logits, c == 3);
  }
  EXPECT_EQ(p.output.size(), 1u);
  h.run_to_completion();
}

TEST(ChunkedPolicy, DecodesFirstAndCountedInTheBudget) {
  Harness h("chunked", config_for(16, 512), 1024);
  Sequence& d = start_decoder(h);
  Sequence& p = h.submit(2048, 2);
  Sequence& q = h.submit(600, 2, 20000);
  int32_t done = 0;
  while (p.state != SeqState::Decoding) {
    const StepPlan plan = h.step();
    ASSERT_GE(plan.entries.size(), 2u);
    EXPECT_EQ(plan.entries[0].seq, &d) << "the decode comes first";
    EXPECT_EQ(plan.entries[1].seq, &p);
    EXPECT_EQ(plan.num_prefill_tokens + plan.num_decode_tokens, 512);
    EXPECT_EQ(plan.entries[1].token_begin, done);
    done = plan.entries[1].token_end;
  }
  EXPECT_EQ(done, 2048);
  // 4 full chunks of 511 plus 4 tokens: q took the rest of that last step's budget.
  EXPECT_EQ(q.num_computed_tokens, 507);
  h.run_to_completion();
}

TEST(WholePolicy, PromptInOneStepWithTheDecodes) {
  Harness h("whole", config_for(16, 512), 1024);
  Sequence& d = start_decoder(h);
  Sequence& p = h.submit(2048, 2);
  Sequence& q = h.submit(3000, 2, 20000);
  const StepPlan plan = h.step();
  ASSERT_EQ(plan.entries.size(), 3u);
  EXPECT_EQ(plan.entries[0].seq, &d);
  for (const Sequence* s : {&p, &q}) {
    const PlanEntry* e = find_entry(plan, *s);
    ASSERT_TRUE(e);
    EXPECT_EQ((Range{e->token_begin, e->token_end}), (Range{0, int32_t(s->prompt.size())}));
    EXPECT_EQ((Range{e->layer_begin, e->layer_end}), (Range{0, 16}));
  }
  EXPECT_EQ(plan.num_prefill_tokens, 5048);
  EXPECT_EQ(p.output.size(), 1u);
  h.run_to_completion();
}

TEST(Scheduler, PreemptsTheNewestWhenBlocksRunOutAndRecomputesIt) {
  for (const char* policy : {"chunked", "layered", "whole", "slo"}) {
    SCOPED_TRACE(policy);
    // 6 blocks of 4 tokens: two 10-token prompts fit (3 blocks each), but not
    // once both need a fourth block.
    // (A bandwidth-bound slo takes both prompts in one step, as the others do.)
    Harness h(policy, config_for(4, 512), 6, 4, /*prefix_caching=*/false, kBandwidthBound);
    Sequence& a = h.submit(10, 8, 100);
    Sequence& b = h.submit(10, 8, 200);
    h.step();
    ASSERT_EQ(a.state, SeqState::Decoding);
    ASSERT_EQ(b.state, SeqState::Decoding);
    h.step();  // both write position 10 ...
    h.step();  // ... and 11, the last of their 12 reserved slots
    const StepPlan plan = h.step();  // a needs block 4: b, the newest, is preempted
    EXPECT_EQ(plan.preempted.size(), 1u);
    EXPECT_EQ(b.state, SeqState::Waiting);
    EXPECT_EQ(b.num_preemptions, 1);
    EXPECT_EQ(b.num_computed_tokens, 0);
    EXPECT_TRUE(b.block_table.empty());
    EXPECT_EQ(find_entry(plan, b), nullptr);
    EXPECT_EQ(a.num_preemptions, 0);
    const size_t b_outputs = b.output.size();
    h.run_to_completion();
    EXPECT_EQ(a.output.size(), 8u);
    EXPECT_EQ(b.output.size(), 8u);
    EXPECT_GT(b.output.size(), b_outputs);
    EXPECT_EQ(h.blocks().usage(), 0.0);
  }
}

TEST(Scheduler, PreemptingAnInFlightCohortDropsItsActivations) {
  // 16 blocks of 4: a decoder holds 3 and grows; a 52-token prompt reserves
  // the other 13 and runs 5 stages (tokens_per_stage 12).
  SchedulerConfig config = config_for(8, 512, 8);
  config.tokens_per_stage = 12;
  Harness h("layered", config, 16, 4, /*prefix_caching=*/false);
  Sequence& d = h.submit(11, 30, 100);
  h.step();
  Sequence& p = h.submit(52, 2, 200);
  h.step();  // d at 13 tokens; p admitted: stage 0 of 5
  ASSERT_TRUE(p.prefill_stage.in_flight());
  const StepPlan plan = h.step();  // d needs a 4th block: p goes
  EXPECT_EQ(plan.preempted.size(), 1u);
  EXPECT_EQ(p.state, SeqState::Waiting);
  EXPECT_FALSE(p.prefill_stage.in_flight());
  const StepPlan after = h.step();
  EXPECT_EQ(after.dropped_activations, std::vector<int64_t>{}) << "dropped once, with the preempting plan";
  EXPECT_EQ(plan.dropped_activations, std::vector<int64_t>{p.id});
  h.run_to_completion();
  EXPECT_EQ(p.output.size(), 2u);
  EXPECT_EQ(d.output.size(), 30u);
}

TEST(Scheduler, AbortMidCohortDropsActivations) {
  Harness h("layered", config_for(16, 8192), 1024);
  Sequence& p = h.submit(2048, 2);
  h.step();
  h.scheduler().abort(p);
  EXPECT_EQ(p.state, SeqState::Aborted);
  const StepPlan plan = h.step();
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(plan.dropped_activations, std::vector<int64_t>{p.id});
  EXPECT_EQ(h.blocks().usage(), 0.0);
}

TEST(Scheduler, RejectsRequestsThatCanNeverFit) {
  Harness h("layered", config_for(4, 8192), 8, 16);  // 128 tokens of KV
  EXPECT_THROW(h.submit(100, 29), Error);
  EXPECT_NO_THROW(h.submit(100, 28));
  SchedulerConfig short_model = config_for(4, 8192);
  short_model.max_model_len = 64;
  Harness g("chunked", short_model, 1024);
  EXPECT_THROW(g.submit(60, 5), Error);
  EXPECT_THROW(g.submit(0, 5), Error);
}

TEST(Scheduler, PrefixCacheHitSkipsComputedBlocks) {
  Harness h("chunked", config_for(4, 512), 64);
  Sequence& a = h.submit(40, 1);
  h.run_to_completion();
  Sequence& b = h.submit(40, 1);  // the same prompt
  const StepPlan plan = h.step();
  EXPECT_EQ(b.num_cached_tokens, 32);
  ASSERT_EQ(plan.entries.size(), 1u);
  EXPECT_EQ((Range{plan.entries[0].token_begin, plan.entries[0].token_end}), (Range{32, 40}));
  EXPECT_EQ(a.state, SeqState::Finished);
}

TEST(Scheduler, RandomTrafficCompletesUnderEveryPolicy) {
  int32_t preemptions = 0;
  int64_t prefix_hits = 0;
  for (const char* policy : {"chunked", "layered", "whole", "slo"}) {
    for (uint64_t seed : {7u, 8u}) {
      SCOPED_TRACE(std::string(policy) + " seed " + std::to_string(seed));
      std::mt19937_64 rng(seed);
      SchedulerConfig config = config_for(6, 96, 4);
      config.max_num_seqs = 6;
      config.tokens_per_stage = 32;
      config.max_model_len = 200;
      Harness h(policy, config, 40, 4);
      std::vector<Sequence*> all;
      for (int step = 0; step < 400; ++step) {
        if (rng() % 3 == 0) {
          // Shared prefixes exercise the prefix cache.
          all.push_back(&h.submit(int32_t(1 + rng() % 120), int32_t(1 + rng() % 30), int32_t(rng() % 2) * 1000));
        }
        if (rng() % 50 == 0 && !all.empty()) {
          Sequence* victim = all[rng() % all.size()];
          if (!victim->is_finished()) h.scheduler().abort(*victim);
        }
        h.step();
      }
      h.run_to_completion();
      for (const Sequence* s : all) {
        if (s->state == SeqState::Aborted) continue;
        EXPECT_EQ(s->state, SeqState::Finished);
        EXPECT_EQ(int32_t(s->output.size()), s->max_tokens);
      }
      EXPECT_EQ(h.blocks().usage(), 0.0);
      for (const Sequence* s : all) preemptions += s->num_preemptions;
      prefix_hits += h.blocks().prefix_cache_hits();
    }
  }
  // The traffic is meant to exercise both.
  EXPECT_GT(preemptions, 0);
  EXPECT_GT(prefix_hits, 0);
}

// --- slo --------------------------------------------------------------------

namespace {

// Runs a 4096-token prompt beside 4 decoders under a 100 ms target; returns
// the prompt's first step and checks every step against the target.
StepPlan slo_first_prefill_step(const ToyMachine& machine, int* steps_over_target) {
  SchedulerConfig config = config_for(32, 8192);
  Harness h("slo", config, 4096, 16, true, machine);
  for (int i = 0; i < 4; ++i) start_decoder(h);
  Sequence& p = h.submit(4096, 2);
  StepPlan first;
  *steps_over_target = 0;
  while (p.state != SeqState::Decoding) {
    const StepPlan plan = h.step();
    if (first.empty()) first = plan;
    *steps_over_target += machine(plan) > config.tbt_slo_seconds;
  }
  return first;
}

}  // namespace

TEST(SloPolicy, LayersWhereWeightsDominate) {
  int over = 0;
  // Bandwidth-bound: a layer costs 2 ms whatever its rows, so the prompt
  // goes in one cohort through few layers per step (layered prefill).
  const StepPlan wide = slo_first_prefill_step(kBandwidthBound, &over);
  EXPECT_EQ(over, 0);
  const PlanEntry* e = &wide.entries.back();
  ASSERT_TRUE(e->is_prefill);
  EXPECT_EQ(e->num_tokens(), 4096);
  EXPECT_LT(e->layer_end, 32);
  // Compute-bound: a cohort's cost grows with rows x layers, so the step
  // holds far fewer prompt tokens x layers and takes more of them.
  const StepPlan narrow = slo_first_prefill_step(kComputeBound, &over);
  EXPECT_EQ(over, 0);
  e = &narrow.entries.back();
  ASSERT_TRUE(e->is_prefill);
  EXPECT_LT(int64_t(e->num_tokens()) * (e->layer_end - e->layer_begin), 4096 * 8);
}

TEST(SloPolicy, ShortestFirstWhereComputeDominates) {
  // Two prompts and no decodes: serving one per step gives the first its
  // token sooner and the second no later, so the mean TTFT is lower.
  Harness h("slo", config_for(4, 8192), 64, 16, true, kComputeBound);
  Sequence& a = h.submit(100, 2);
  Sequence& b = h.submit(100, 2, 500);
  const StepPlan first = h.step();
  ASSERT_EQ(first.entries.size(), 1u);
  EXPECT_EQ(first.entries[0].seq, &a);
  EXPECT_EQ(a.state, SeqState::Decoding);
  h.run_to_completion();
  EXPECT_EQ(b.output.size(), 2u);
}

TEST(SloPolicy, NinetyNinePercentOfGapsMeetTheTargetUnderRandomTraffic) {
  for (const ToyMachine& machine : {kBandwidthBound, kComputeBound}) {
    std::mt19937_64 rng(3);
    SchedulerConfig config = config_for(16, 2048);
    config.tbt_slo_seconds = 0.05;
    Harness h("slo", config, 2048, 16, true, machine);
    int64_t gaps = 0, gaps_over = 0, prefilling = 0, longest_ms = 0;
    for (int step = 0; step < 400; ++step) {
      if (rng() % 4 == 0) h.submit(int32_t(1 + rng() % 600), int32_t(1 + rng() % 40), int32_t(rng() % 1000));
      const StepPlan plan = h.step();
      prefilling += plan.num_prefill_tokens > 0;
      // Every decode in a step waits for the whole step.
      gaps += plan.num_decode_tokens;
      const double seconds = machine(plan);
      if (plan.num_decode_tokens > 0) {
        if (seconds > config.tbt_slo_seconds) gaps_over += plan.num_decode_tokens;
        longest_ms = std::max<int64_t>(longest_ms, int64_t(seconds * 1000));
      }
    }
    h.run_to_completion();
    EXPECT_GT(prefilling, 20);
    EXPECT_GT(gaps, 500);  // enough for 1% to be 5 gaps
    EXPECT_LE(double(gaps_over), 0.01 * double(gaps)) << gaps_over << " of " << gaps << " gaps";
    EXPECT_LE(longest_ms, 4 * 50) << "a step beside decodes goes at most 4x over";
    EXPECT_EQ(h.blocks().usage(), 0.0);
  }
}

TEST(SloPolicy, ANewCohortStartsWhileAnOlderOneIsInLaterLayers) {
  SchedulerConfig config = config_for(32, 8192);
  Harness h("slo", config, 4096, 16, true, kBandwidthBound);
  start_decoder(h);
  Sequence& a = h.submit(3000, 2);
  h.step();
  ASSERT_TRUE(a.prefill_stage.in_flight());
  const int32_t a_layer = a.prefill_stage.layer_begin;
  Sequence& b = h.submit(500, 2, 30000);
  const StepPlan plan = h.step();
  const PlanEntry* ea = find_entry(plan, a);
  const PlanEntry* eb = find_entry(plan, b);
  ASSERT_TRUE(ea && eb) << "the second cohort waited for the first";
  EXPECT_EQ(ea->layer_begin, a_layer);
  EXPECT_EQ(eb->layer_begin, 0);
  h.run_to_completion();
  EXPECT_EQ(a.output.size(), 2u);
  EXPECT_EQ(b.output.size(), 2u);
}

TEST(SloPolicy, ATargetBelowTheDecodesStillFinishesPrompts) {
  SchedulerConfig config = config_for(8, 8192);
  config.tbt_slo_seconds = 1e-4;  // less than one layer of decodes
  Harness h("slo", config, 1024, 16, true, kBandwidthBound);
  Sequence& d = h.submit(8, 50, 50000);
  Sequence& p = h.submit(300, 3);
  h.run_to_completion(2000);
  EXPECT_EQ(d.output.size(), 50u);
  EXPECT_EQ(p.output.size(), 3u);
}

TEST(SloPolicy, LearnsThatStepsRunSlowerThanItsCostModel) {
  // The machine is twice as slow as the profile says (as under load): after
  // a few steps the policy sizes steps to the real times.
  SchedulerConfig config = config_for(16, 2048);
  config.tbt_slo_seconds = 0.05;
  Harness h("slo", config, 2048, 16, true, kComputeBound);
  h.slowdown = 2;
  std::mt19937_64 rng(5);
  int64_t gaps = 0, gaps_over = 0;
  for (int step = 0; step < 400; ++step) {
    if (rng() % 4 == 0) h.submit(int32_t(1 + rng() % 600), int32_t(1 + rng() % 40), int32_t(rng() % 1000));
    const StepPlan plan = h.step();
    if (step < 20) continue;
    gaps += plan.num_decode_tokens;
    if (plan.num_decode_tokens > 0 && 2 * kComputeBound(plan) > config.tbt_slo_seconds) gaps_over += plan.num_decode_tokens;
  }
  h.run_to_completion();
  EXPECT_GT(gaps, 500);  // enough for 1% to be 5 gaps
  EXPECT_LE(double(gaps_over), 0.01 * double(gaps)) << gaps_over << " of " << gaps << " gaps";
}
