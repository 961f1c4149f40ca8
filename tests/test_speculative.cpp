// Speculative decoding end to end on the engine tests' tiny models: with
// ngram prompt lookup (and a draft model), greedy outputs (tokens, log-probabilities, text,
// finish) are bit-identical to decoding without it whatever the policy, the
// batch and the prefix cache; rejected drafts give back their KV blocks;
// seeded sampling at temperature > 0 gives the same tokens as without it.
// Prompts repeat a phrase and the tiny model's greedy output falls into
// loops, so proposals are made, and some are accepted and some rejected
// (asserted: a test where nothing is proposed would prove nothing).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <set>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/error.h"
#include "engine/block_manager.h"
#include "engine/draft_proposer.h"
#include "engine/mtp_proposer.h"
#include "engine/paged_kv_cache.h"
#include "engine/scheduler.h"
#include "engine/ngram_proposer.h"
#include "engine/sequence.h"
#include "engine/speculative_config.h"
#include "server/metrics.h"
#include "tokenizer/tokenizer.h"
#include "engine_fixture.h"

using namespace engine_test;

namespace {

class SpeculativeTest : public EngineFixture<QwenMoe> {
 protected:
  static EngineConfig with_ngram(EngineConfig c, int32_t k = 4) {
    c.speculative = SpeculativeConfig::parse(
        fmt::format(R"({{"method": "ngram", "num_speculative_tokens": {}, "prompt_lookup_max": 3, "prompt_lookup_min": 1}})", k));
    return c;
  }
};

// A phrase said `times` times, then a random tail.
std::vector<int32_t> repetitive_prompt(int32_t phrase_len, int32_t times, int32_t tail, uint32_t seed) {
  const std::vector<int32_t> phrase = make_prompt(phrase_len, seed);
  std::vector<int32_t> p;
  for (int32_t i = 0; i < times; ++i) p.insert(p.end(), phrase.begin(), phrase.end());
  const std::vector<int32_t> end = make_prompt(tail, seed + 1000);
  p.insert(p.end(), end.begin(), end.end());
  return p;
}

std::vector<Request> repetitive_requests(int32_t n, int32_t max_tokens) {
  std::vector<Request> r;
  for (int32_t i = 0; i < n; ++i) {
    r.push_back(greedy(repetitive_prompt(5 + i % 4, 3 + i % 3, 3 + (i * 7) % 11, 300 + uint32_t(i)), max_tokens + i % 5));
  }
  return r;
}

// Drafts were proposed, and some of their tokens accepted and some rejected.
void expect_accepted_and_rejected(const EngineCounters& c, const std::string& what) {
  EXPECT_GT(c.spec_num_drafts, 0) << what;
  EXPECT_GT(c.spec_num_accepted_tokens, 0) << what;
  EXPECT_LT(c.spec_num_accepted_tokens, c.spec_num_draft_tokens) << what;
  EXPECT_EQ(std::accumulate(c.spec_accepted_per_pos.begin(), c.spec_accepted_per_pos.end(), int64_t(0)),
            c.spec_num_accepted_tokens)
      << what;
}

void expect_same_finish(const Output& a, const Output& b, const std::string& what) {
  EXPECT_EQ(a.finish, b.finish) << what;
  EXPECT_EQ(a.stop_string, b.stop_string) << what;
}

}  // namespace

TEST_F(SpeculativeTest, GreedyOutputIsUnchangedForEveryPolicyAndBatch) {
  const std::vector<Request> requests = repetitive_requests(6, 48);
  std::vector<Output> ref;
  for (const Request& r : requests) ref.push_back(run(config("whole"), {r})[0]);
  for (const std::string policy : {"whole", "chunked", "layered", "slo"}) {
    Engine engine(*model_, with_ngram(config(policy)));
    // First (before the prefix cache holds these prompts), the last arriving
    // once the others are well into decoding and drafting.
    const std::vector<Output> staggered = run(engine, requests, {0, 0, 2, 3, 5, 24});
    // Drafts were verified in steps that also prefilled (in a layer stage, for layered).
    bool beside_prefill = false, beside_stage = false;
    for (const StepStats& s : engine.take_step_stats()) {
      if (s.draft_tokens == 0 || s.prefill_tokens == 0) continue;
      beside_prefill = true;
      for (const StepStats::Segment& seg : s.segments) beside_stage |= seg.layer_end - seg.layer_begin < 4;
    }
    if (policy != "whole") EXPECT_TRUE(beside_prefill) << policy;
    if (policy == "layered") EXPECT_TRUE(beside_stage);
    const std::vector<Output> together = run(engine, requests);
    const std::vector<Output> alone = run(engine, {requests[4]});
    expect_same(alone[0], ref[4], policy + " alone");
    for (size_t i = 0; i < requests.size(); ++i) {
      expect_same(together[i], ref[i], policy + " batched, request " + std::to_string(i));
      expect_same(staggered[i], ref[i], policy + " staggered, request " + std::to_string(i));
      expect_same_finish(staggered[i], ref[i], policy);
    }
    EXPECT_EQ(engine.block_manager().usage(), 0.0);
    EXPECT_EQ(engine.num_saved_activations(), 0u);
    expect_accepted_and_rejected(engine.counters(), policy);
    // Several tokens reached the client in one event (accepted drafts).
    EXPECT_GT(*std::max_element(staggered[4].tokens_per_event.begin(), staggered[4].tokens_per_event.end()), 1u);
  }
}

// Blocks registered in the prefix cache during speculative decoding hold
// only accepted tokens: a later request whose prompt is an earlier one's
// prompt and output finds them, and its output matches an uncached,
// unspeculated run.
TEST_F(SpeculativeTest, PrefixCacheHoldsOnlyAcceptedTokens) {
  const Request first = repetitive_requests(5, 60)[4];
  const Output first_out = run(config("chunked"), {first})[0];
  std::vector<Request> requests = {first};
  for (int32_t cut : {20, 44, 60}) {
    std::vector<int32_t> prompt = first.prompt;
    prompt.insert(prompt.end(), first_out.tokens.begin(), first_out.tokens.begin() + cut);
    requests.push_back(greedy(prompt, 24));
  }
  for (const std::string policy : {"chunked", "layered", "slo"}) {
    EngineConfig off = config(policy);
    off.prefix_caching = false;
    const std::vector<Output> ref = run(off, requests, {0, 100, 130, 160});
    Engine engine(*model_, with_ngram(config(policy)));
    const std::vector<Output> spec = run(engine, requests, {0, 100, 130, 160});
    for (size_t i = 0; i < requests.size(); ++i) expect_same(spec[i], ref[i], policy + " request " + std::to_string(i));
    // The last request's prompt covers the first's prompt and whole output.
    const int32_t first_tokens = int32_t(first.prompt.size()) + 60;
    EXPECT_GE(spec[3].cached_tokens, first_tokens / 16 * 16 - 16) << policy;
    expect_accepted_and_rejected(engine.counters(), policy);
  }
}

// Many requests through a KV cache that holds few of them at once: drafts
// are proposed, rejected, truncated away and preempted, and at the end every
// block is back, the block manager is consistent and outputs are unchanged.
TEST_F(SpeculativeTest, KVBlocksComeBackUnderASoak) {
  std::vector<Request> requests = repetitive_requests(40, 30);
  std::vector<int> arrivals;
  std::mt19937 rng(11);
  for (size_t i = 0; i < requests.size(); ++i) arrivals.push_back(int(i) * 4 + int(rng() % 8));
  std::sort(arrivals.begin(), arrivals.end());
  const std::vector<Output> ref = run(config("chunked"), requests, arrivals);
  for (const std::string policy : {"chunked", "layered"}) {
    EngineConfig c = with_ngram(config(policy), 6);
    c.num_kv_blocks = 20;  // 320 positions; a request needs up to 6 blocks
    Engine engine(*model_, c);
    const std::vector<Output> out = run(engine, requests, arrivals);
    for (size_t i = 0; i < requests.size(); ++i) expect_same(out[i], ref[i], policy + " request " + std::to_string(i));
    EXPECT_EQ(engine.block_manager().usage(), 0.0) << policy;
    EXPECT_EQ(engine.block_manager().num_free_blocks(), 20) << policy;
    engine.block_manager().check_consistency({});
    const EngineCounters counters = engine.counters();
    expect_accepted_and_rejected(counters, policy);
    EXPECT_GT(counters.preemptions, 0) << policy << ": the soak should run short of blocks";
  }
}

// Stop strings, stop tokens and max_tokens cut an accepted draft short
// exactly where one-token-per-step decoding would stop.
TEST_F(SpeculativeTest, StopsAndMaxTokensInsideAnAcceptedDraft) {
  const std::vector<Request> base = repetitive_requests(6, 48);
  std::vector<Output> ref;
  for (const Request& r : base) ref.push_back(run(config("chunked"), {r})[0]);
  std::vector<Request> requests;
  for (size_t i = 0; i < base.size(); ++i) {
    for (int32_t max_tokens : {1, 2, 3, 7, 12, 19, 26}) {
      Request r = base[i];
      r.params.max_tokens = max_tokens;
      requests.push_back(r);
    }
    // Stop at the text of output tokens 9, 17 and 30, and at token 13's id.
    for (size_t at : {9u, 17u, 30u}) {
      const std::string piece = model_->tokenizer().decode({ref[i].tokens[at]});
      if (piece.empty()) continue;
      Request r = base[i];
      r.params.stop = {piece};
      requests.push_back(r);
    }
    Request r = base[i];
    r.params.stop_token_ids = {ref[i].tokens[13]};
    requests.push_back(r);
  }
  std::vector<Output> plain, spec;
  Engine engine(*model_, with_ngram(config("chunked")));
  for (const Request& r : requests) {
    plain.push_back(run(config("chunked"), {r})[0]);
    spec.push_back(run(engine, {r})[0]);
  }
  int32_t cut_short = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::string what = "case " + std::to_string(i);
    expect_same(spec[i], plain[i], what);
    expect_same_finish(spec[i], plain[i], what);
    EXPECT_LE(int32_t(spec[i].tokens.size()), requests[i].params.max_tokens) << what;
    // The request ended in an event of several tokens: a draft was accepted
    // up to the stop, and whatever it held past the stop was dropped.
    if (spec[i].tokens_per_event.back() > 1) ++cut_short;
  }
  EXPECT_GT(cut_short, 0);
  expect_accepted_and_rejected(engine.counters(), "stops");
}

// Temperature > 0: every emitted token is one draw from the target's
// distribution (a draft token is accepted when the draw equals it, which is
// rejection sampling for a one-token proposal; see Engine::advance), so a
// seeded request yields the very tokens it yields without speculation, for
// every seed. That is a stronger check than comparing the two output
// distributions statistically, and it fails on any bias.
TEST_F(SpeculativeTest, SeededSamplingIsUnchanged) {
  const Request base = repetitive_requests(5, 40)[4];
  std::vector<Request> requests;
  for (uint64_t seed = 0; seed < 24; ++seed) {
    Request r = base;
    r.params.sampling.temperature = 0.7f;
    r.params.sampling.top_k = 4;
    r.params.seed = seed;
    requests.push_back(r);
  }
  const std::vector<Output> plain = run(config("chunked"), requests);
  Engine engine(*model_, with_ngram(config("chunked")));
  const std::vector<Output> spec = run(engine, requests);
  std::set<std::vector<int32_t>> distinct;
  for (size_t i = 0; i < requests.size(); ++i) {
    expect_same(spec[i], plain[i], "seed " + std::to_string(i));
    distinct.insert(plain[i].tokens);
  }
  EXPECT_GT(distinct.size(), requests.size() / 2) << "the sampling is not random enough to test anything";
  expect_accepted_and_rejected(engine.counters(), "temperature 0.7");
}

// The draft method with a 1-layer draft made of the target's first layer
// and head (synth writes the same weights for the same names and seed), and
// with the target itself as its own draft (which must be right every time).
TEST_F(SpeculativeTest, DraftModelKeepsGreedyOutputAndReturnsItsBlocks) {
  const fs::path draft_dir = fs::path(dir_->string() + "_draft");
  SynthOptions options;
  options.config = synth_preset("tiny", QwenMoe::arch);
  options.config.num_hidden_layers = 1;
  options.tokenizer_dir = default_synth_tokenizer_dir();
  options.seed = 7;
  synthesize_model(draft_dir.string(), options);
  const std::vector<Request> requests = repetitive_requests(6, 40);
  std::vector<Output> ref;
  for (const Request& r : requests) ref.push_back(run(config("whole"), {r})[0]);
  for (const fs::path& draft : {draft_dir, *dir_}) {
    for (const std::string policy : {"chunked", "layered"}) {
      const std::string what = policy + " with draft " + draft.filename().string();
      EngineConfig c = config(policy);
      c.speculative = SpeculativeConfig::parse(
          fmt::format(R"({{"method": "draft", "model": "{}", "num_speculative_tokens": 3}})", draft.string()));
      Engine engine(*model_, c);
      const std::vector<Output> out = run(engine, requests, {0, 0, 2, 3, 5, 24});
      for (size_t i = 0; i < requests.size(); ++i) expect_same(out[i], ref[i], what + ", request " + std::to_string(i));
      const EngineCounters counters = engine.counters();
      if (draft == *dir_) {
        EXPECT_GT(counters.spec_num_draft_tokens, 0) << what;
        EXPECT_EQ(counters.spec_num_accepted_tokens, counters.spec_num_draft_tokens) << what;
      } else {
        expect_accepted_and_rejected(counters, what);
      }
      const auto* proposer = dynamic_cast<const DraftProposer*>(engine.proposer());
      ASSERT_NE(proposer, nullptr);
      EXPECT_EQ(proposer->num_held_blocks(), 0) << what;
    }
  }
  // Short of blocks: a preempted sequence's shadow goes with it.
  EngineConfig c = config("chunked");
  c.speculative = SpeculativeConfig::parse(
      fmt::format(R"({{"method": "draft", "model": "{}", "num_speculative_tokens": 3}})", draft_dir.string()));
  c.num_kv_blocks = 16;
  const Engine* running = nullptr;
  c.before_step = [&] {
    if (!running) return;
    const auto& proposer = dynamic_cast<const DraftProposer&>(*running->proposer());
    for (const Sequence* waiting : running->scheduler().state().waiting) {
      EXPECT_FALSE(proposer.has_shadow(waiting->id)) << "request " << waiting->id;
    }
  };
  Engine engine(*model_, c);
  running = &engine;
  const std::vector<Request> soak = repetitive_requests(16, 30);
  std::vector<int> arrivals;
  for (size_t i = 0; i < soak.size(); ++i) arrivals.push_back(int(i) * 3);
  run(engine, soak, arrivals);
  running = nullptr;
  EXPECT_GT(engine.counters().preemptions, 0) << "the soak should run short of blocks";
  EXPECT_EQ(dynamic_cast<const DraftProposer&>(*engine.proposer()).num_held_blocks(), 0);
  fs::remove_all(draft_dir);
}

// Scheduling a draft: it is dropped rather than preempt anyone when its
// blocks are not free, it fits the chunked token budget, and after
// verification the accepted tokens count as computed and the blocks that
// only rejected tokens used go back.
// The same, as a distribution: with disjoint seeds for the two runs (so
// the seeded coupling above plays no part), the tokens at several output
// positions have the same distribution with and without speculation, by a
// chi-square test of homogeneity at a false-failure rate near 1e-6 per
// position. The test has power: the same comparison against sampling at a
// much lower temperature fails.
TEST_F(SpeculativeTest, SampledTokenDistributionIsUnchanged) {
  const Request base = repetitive_requests(5, 12)[4];
  auto sampled = [&](const EngineConfig& c, uint64_t first_seed, float temperature) {
    std::vector<Request> requests;
    for (uint64_t seed = first_seed; seed < first_seed + 300; ++seed) {
      Request r = base;
      r.params.sampling.temperature = temperature;
      r.params.sampling.top_k = 4;
      r.params.seed = seed;
      r.params.logprobs.reset();
      requests.push_back(r);
    }
    Engine engine(*model_, c);
    std::vector<Output> out = run(engine, requests);
    return std::make_pair(out, engine.counters());
  };
  const auto [spec, counters] = sampled(with_ngram(config("chunked")), 0, 0.7f);
  const auto plain = sampled(config("chunked"), 100000, 0.7f).first;
  const auto colder = sampled(config("chunked"), 200000, 0.2f).first;
  expect_accepted_and_rejected(counters, "distribution");
  // Chi-square homogeneity of two equal-size samples, categories with fewer
  // than 10 draws together pooled; returns the statistic and its critical
  // value (Wilson-Hilferty, z = 4.75: p ~ 1e-6).
  auto chi_square = [](const std::vector<Output>& a, const std::vector<Output>& b, size_t pos) {
    std::map<int32_t, std::pair<int64_t, int64_t>> counts;
    for (const Output& o : a) counts[o.tokens.at(pos)].first++;
    for (const Output& o : b) counts[o.tokens.at(pos)].second++;
    std::vector<std::pair<int64_t, int64_t>> cells(1, {0, 0});  // cells[0]: the pooled rare ones
    for (const auto& [token, c] : counts) {
      if (c.first + c.second < 10) {
        cells[0].first += c.first, cells[0].second += c.second;
      } else {
        cells.push_back(c);
      }
    }
    double stat = 0;
    int df = -1;
    for (const auto& [x, y] : cells) {
      if (x + y == 0) continue;
      stat += double(x - y) * double(x - y) / double(x + y);
      ++df;
    }
    const double k = 2.0 / (9.0 * std::max(df, 1));
    return std::make_pair(stat, std::max(df, 1) * std::pow(1 - k + 4.75 * std::sqrt(k), 3));
  };
  bool colder_detected = false;
  for (size_t pos : {1u, 4u, 7u, 10u}) {
    const auto [stat, critical] = chi_square(spec, plain, pos);
    EXPECT_LT(stat, critical) << "position " << pos;
    const auto [cold_stat, cold_critical] = chi_square(colder, plain, pos);
    colder_detected |= cold_stat > cold_critical;
  }
  EXPECT_TRUE(colder_detected) << "the test cannot tell temperature 0.2 from 0.7";
}

TEST(SpeculativeScheduling, DraftsNeverPreemptFitTheBudgetAndRollBack) {
  SchedulerConfig sc;
  sc.num_layers = 2;
  sc.max_model_len = 64;
  {
    BlockManager blocks(2, 4, /*enable_prefix_caching=*/false);
    Scheduler scheduler(sc, blocks, make_schedule_policy("chunked"));
    Sequence a, b;
    a.id = 0, b.id = 1;
    a.prompt = {1, 2, 3};
    b.prompt = {4, 5};
    a.max_tokens = b.max_tokens = 4;
    scheduler.add(a);
    scheduler.add(b);
    scheduler.on_step_done(scheduler.schedule());  // both prompts
    a.output = {9};
    b.output = {9};
    ASSERT_EQ(a.state, SeqState::Decoding);
    ASSERT_EQ(b.state, SeqState::Decoding);
    ASSERT_EQ(blocks.num_free_blocks(), 0);
    a.draft = {5, 6};  // would need a second block
    const StepPlan plan = scheduler.schedule();
    ASSERT_EQ(plan.entries.size(), 2u);
    EXPECT_TRUE(plan.preempted.empty());
    EXPECT_EQ(plan.entries[0].num_draft_tokens, 0);
    EXPECT_TRUE(a.draft.empty());
  }
  sc.max_num_batched_tokens = 4;
  BlockManager blocks(8, 2, /*enable_prefix_caching=*/false);
  Scheduler scheduler(sc, blocks, make_schedule_policy("chunked"));
  Sequence a;
  a.prompt = {1, 2, 3};
  a.max_tokens = 8;
  scheduler.add(a);
  scheduler.on_step_done(scheduler.schedule());
  a.output = {9};
  a.draft = {5, 6, 7, 8};
  StepPlan plan = scheduler.schedule();
  ASSERT_EQ(plan.entries.size(), 1u);
  EXPECT_EQ(plan.entries[0].num_tokens(), 4);  // the budget: the newest token and 3 of the draft
  EXPECT_EQ(plan.entries[0].num_draft_tokens, 3);
  EXPECT_TRUE(plan.entries[0].needs_logits);
  EXPECT_EQ(a.draft, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(a.block_table.size(), 4u);  // positions 0-6
  scheduler.on_step_done(plan);
  EXPECT_EQ(a.num_computed_tokens, 4);  // the draft counts only once accepted
  a.output.insert(a.output.end(), {5, 11});  // 5 accepted, then 11 instead of 6
  scheduler.on_draft_verified(a, 1);
  EXPECT_EQ(a.num_computed_tokens, 5);
  EXPECT_TRUE(a.draft.empty());
  EXPECT_EQ(a.block_table.size(), 3u);  // 6 tokens
  EXPECT_EQ(blocks.num_free_blocks(), 5);
  a.draft = {1, 2, 3};
  plan = scheduler.schedule();
  EXPECT_EQ(a.block_table.size(), 5u);  // positions 0-8
  scheduler.on_step_done(plan);
  a.output.push_back(12);  // the first draft token rejected
  scheduler.on_draft_verified(a, 0);
  EXPECT_EQ(a.num_computed_tokens, 6);
  EXPECT_EQ(a.block_table.size(), 4u);  // 7 tokens
  EXPECT_EQ(blocks.num_free_blocks(), 4);
  EXPECT_THROW(scheduler.on_draft_verified(a, 1), Bug);  // no draft left to accept from
  scheduler.finish(a);
  EXPECT_EQ(blocks.num_free_blocks(), 8);
}

TEST(NgramProposer, ProposesWhatFollowedTheLatestLongestMatch) {
  Sequence seq;
  seq.prompt = {1, 2, 3, 9, 1, 2, 3, 7, 8, 5, 2, 3};
  NgramProposer two_to_three(2, 3);
  // Suffix (5 2 3) never occurred; (2 3) last occurred at 5: 7 8 5 follow.
  EXPECT_EQ(two_to_three.propose(seq, 3), (std::vector<int32_t>{7, 8, 5}));
  EXPECT_EQ(two_to_three.propose(seq, 1), (std::vector<int32_t>{7}));
  EXPECT_TRUE(two_to_three.propose(seq, 0).empty());
  // The output counts too, and a longer match wins over a later shorter one.
  seq.output = {4, 1, 2, 3};
  EXPECT_EQ(two_to_three.propose(seq, 2), (std::vector<int32_t>{7, 8}));
  // A match near the end proposes only the tokens that exist.
  seq.prompt = {6, 6, 6};
  seq.output = {};
  EXPECT_EQ(NgramProposer(1, 1).propose(seq, 5), (std::vector<int32_t>{6}));
  seq.prompt = {1, 2, 3, 4};
  EXPECT_TRUE(NgramProposer(1, 4).propose(seq, 4).empty());
  EXPECT_THROW(NgramProposer(3, 2), Bug);
}

TEST(SpeculativeConfig, ParsesVllmJsonAndRefusesBadValues) {
  const SpeculativeConfig c =
      SpeculativeConfig::parse(R"({"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4})");
  EXPECT_EQ(c.method, "ngram");
  EXPECT_EQ(c.num_speculative_tokens, 4);
  EXPECT_EQ(c.prompt_lookup_min, 4);  // vLLM: the one given sets both
  EXPECT_EQ(c.prompt_lookup_max, 4);
  const SpeculativeConfig d = SpeculativeConfig::parse(R"({"method": "ngram", "num_speculative_tokens": 2})");
  EXPECT_EQ(d.prompt_lookup_min, 5);
  EXPECT_EQ(d.prompt_lookup_max, 5);
  auto refused = [](const char* json, const char* why) {
    try {
      SpeculativeConfig::parse(json);
      ADD_FAILURE() << json << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  refused(R"({"method": "ngram", "num_speculative_tokens": 4)", "not JSON");
  refused(R"(["ngram"])", "JSON object");
  refused(R"({"num_speculative_tokens": 4})", "\"method\"");
  refused(R"({"method": "eagle", "num_speculative_tokens": 4})", "unknown method \"eagle\"");
  refused(R"({"method": "draft", "num_speculative_tokens": 4})", "needs \"model\"");
  refused(R"({"method": "ngram", "model": "m", "num_speculative_tokens": 4})", "for method \"draft\" only");
  const SpeculativeConfig draft =
      SpeculativeConfig::parse(R"({"method": "draft_model", "model": "m", "num_speculative_tokens": 3})");
  EXPECT_EQ(draft.method, "draft");
  EXPECT_EQ(draft.model, "m");
  refused(R"({"method": "ngram"})", "num_speculative_tokens");
  refused(R"({"method": "ngram", "num_speculative_tokens": 0})", "from 1 to 64");
  refused(R"({"method": "ngram", "num_speculative_tokens": "4"})", "from 1 to 64");
  refused(R"({"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_min": 5, "prompt_lookup_max": 2})",
          "exceeds");
  refused(R"({"method": "ngram", "num_speculative_tokens": 4, "lookup": 2})", "unknown key \"lookup\"");
  // vLLM's MTP spellings: "mtp", and "deepseek_mtp", which it maps to "mtp".
  for (const char* method : {"mtp", "deepseek_mtp"}) {
    const SpeculativeConfig mtp =
        SpeculativeConfig::parse(fmt::format(R"({{"method": "{}", "num_speculative_tokens": 2}})", method));
    EXPECT_EQ(mtp.method, "mtp");
    EXPECT_TRUE(mtp.needs_mtp_modules());
  }
  EXPECT_FALSE(c.needs_mtp_modules());
  refused(R"({"method": "mtp", "num_speculative_tokens": 2, "prompt_lookup_max": 2})", "for method \"ngram\" only");
  refused(R"({"method": "mtp", "model": "m", "num_speculative_tokens": 2})", "for method \"draft\" only");
}

TEST(BlockManagerTruncate, FreesBlocksPastTheCutAndKeepsCachedOnesWhole) {
  BlockManager blocks(8, 4);
  Sequence seq;
  seq.prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  ASSERT_TRUE(blocks.allocate(seq, 15));  // 4 blocks
  seq.num_computed_tokens = 9;
  blocks.cache_computed_blocks(seq);  // blocks 0 and 1 registered
  EXPECT_EQ(blocks.num_free_blocks(), 4);
  blocks.truncate(seq, 10);
  EXPECT_EQ(seq.block_table.size(), 3u);
  EXPECT_EQ(blocks.num_free_blocks(), 5);
  blocks.truncate(seq, 8);
  EXPECT_EQ(seq.num_computed_tokens, 8);
  EXPECT_EQ(blocks.num_free_blocks(), 6);
  blocks.check_consistency({&seq});
  EXPECT_THROW(blocks.truncate(seq, 7), Bug);  // would cut a cached block
  blocks.free(seq);
  blocks.check_consistency({});
}

// /metrics carries vLLM's spec_decode counters, from the engine's, and only
// when speculative decoding is on.
TEST_F(SpeculativeTest, MetricsUseVllmNames) {
  Engine engine(*model_, with_ngram(config("chunked"), 3));
  run(engine, repetitive_requests(6, 40));
  const EngineCounters c = engine.counters();
  ASSERT_EQ(c.spec_accepted_per_pos.size(), 3u);
  const std::string page = ServerMetrics("tiny").render(c);
  const std::string labels = "{model_name=\"tiny\"}";
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, int64_t>>{{"vllm:spec_decode_num_drafts_total", c.spec_num_drafts},
                                                    {"vllm:spec_decode_num_draft_tokens_total", c.spec_num_draft_tokens},
                                                    {"vllm:spec_decode_num_accepted_tokens_total", c.spec_num_accepted_tokens}}) {
    EXPECT_NE(page.find(name + labels + " " + std::to_string(value) + "\n"), std::string::npos) << name << "\n" << page;
  }
  EXPECT_NE(page.find("# TYPE vllm:spec_decode_num_accepted_tokens_per_pos counter"), std::string::npos);
  for (size_t pos = 0; pos < 3; ++pos) {
    const std::string line = fmt::format("vllm:spec_decode_num_accepted_tokens_per_pos_total{{model_name=\"tiny\",position=\"{}\"}} {}\n",
                                         pos, c.spec_accepted_per_pos[pos]);
    EXPECT_NE(page.find(line), std::string::npos) << line;
  }
  // Acceptance at a position needs acceptance at every earlier one.
  EXPECT_GE(c.spec_accepted_per_pos[0], c.spec_accepted_per_pos[1]);
  EXPECT_GE(c.spec_accepted_per_pos[1], c.spec_accepted_per_pos[2]);
  EXPECT_EQ(ServerMetrics("tiny").render(EngineCounters{}).find("spec_decode"), std::string::npos);
}

// The mtp method on tiny minimax_m2 and deepseek_v3 models with MTP modules
// (3 and 1, as their checkpoints declare). At a small branch gain the
// target's layers and the module's block are near identity, and synth's MTP
// input projection is the identity on the next token's embedding (with the
// target's head), so the module predicts from the newest token about what
// the target does, while the context makes it wrong at times: drafts are
// accepted and rejected.
namespace {

struct MinimaxMtp {
  static constexpr const char* arch = "minimax_m2";
  static constexpr int64_t mtp_modules = 3;
  static constexpr float branch_gain = 0.1f;
};
struct DeepseekMtp {
  static constexpr const char* arch = "deepseek_v3";
  static constexpr int64_t mtp_modules = 1;
  static constexpr float branch_gain = 0.1f;
};

template <typename Arch>
class MtpTest : public EngineFixture<Arch> {
 protected:
  static EngineConfig with_mtp(EngineConfig c, int32_t k) {
    c.speculative = SpeculativeConfig::parse(fmt::format(R"({{"method": "mtp", "num_speculative_tokens": {}}})", k));
    return c;
  }
  static const MtpProposer& mtp(const Engine& engine) {
    const auto* proposer = dynamic_cast<const MtpProposer*>(engine.proposer());
    check(proposer != nullptr, "the mtp method makes an MtpProposer", "method {}", engine.config().speculative.method);
    return *proposer;
  }
  static int32_t mtp_held_blocks(const Engine& engine) { return mtp(engine).num_held_blocks(); }
};

using MtpArchs = ::testing::Types<MinimaxMtp, DeepseekMtp>;
TYPED_TEST_SUITE(MtpTest, MtpArchs);

}  // namespace

TYPED_TEST(MtpTest, GreedyOutputIsUnchangedForEveryPolicyAndBatch) {
  using F = TestFixture;
  const std::vector<Request> requests = repetitive_requests(6, 40);
  std::vector<Output> ref;
  for (const Request& r : requests) ref.push_back(F::run(F::config("whole"), {r})[0]);
  for (const auto& [policy, k] : std::vector<std::pair<std::string, int32_t>>{
           {"whole", 1}, {"chunked", 3}, {"layered", 3}, {"slo", 2}}) {
    {
      const std::string what = policy + " k=" + std::to_string(k);
      Engine engine(*F::model_, F::with_mtp(F::config(policy), k));
      const std::vector<Output> staggered = F::run(engine, requests, {0, 0, 2, 3, 5, 24});
      // Again, with the prompts in the prefix cache (positions the module runs without the target's hidden states).
      const std::vector<Output> together = F::run(engine, requests);
      for (size_t i = 0; i < requests.size(); ++i) {
        F::expect_same(staggered[i], ref[i], what + " staggered, request " + std::to_string(i));
        F::expect_same(together[i], ref[i], what + " batched, request " + std::to_string(i));
      }
      EXPECT_EQ(engine.block_manager().usage(), 0.0) << what;
      EXPECT_EQ(F::mtp_held_blocks(engine), 0) << what;
      expect_accepted_and_rejected(engine.counters(), what);
    }
  }
}

// Many drafts of the near-copy module are right (about half, measured): fed
// the token before the right one, its drafts are never accepted.
TYPED_TEST(MtpTest, AcceptanceIsHighOnANearIdentityPair) {
  using F = TestFixture;
  Engine engine(*F::model_, F::with_mtp(F::config("chunked"), 1));
  F::run(engine, repetitive_requests(6, 40));
  const EngineCounters c = engine.counters();
  EXPECT_GT(double(c.spec_num_accepted_tokens), 0.3 * double(c.spec_num_draft_tokens))
      << c.spec_num_accepted_tokens << " of " << c.spec_num_draft_tokens;
}

// A KV cache too small for the requests: preemptions recompute sequences
// (their shadows are released with them) and the module's own cache runs
// out (those sequences skip drafts until they catch up); outputs are
// unchanged and every block of both caches comes back. Between steps no
// waiting (preempted) sequence has a shadow, and the shadows hold no more
// blocks than the target's sequences plus one each.
TYPED_TEST(MtpTest, KVBlocksComeBackUnderASoak) {
  using F = TestFixture;
  std::vector<Request> requests = repetitive_requests(16, 30);
  std::vector<int> arrivals;
  for (size_t i = 0; i < requests.size(); ++i) arrivals.push_back(int(i) * 3);
  const std::vector<Output> ref = F::run(F::config("chunked"), requests, arrivals);
  for (const std::string policy : {"chunked", "layered"}) {
    EngineConfig c = F::with_mtp(F::config(policy), 3);
    c.num_kv_blocks = 16;
    int64_t steps_checked = 0;
    const Engine* running = nullptr;
    c.before_step = [&] {
      if (!running) return;
      const int32_t target_held = 16 - running->block_manager().num_free_blocks();
      EXPECT_LE(F::mtp_held_blocks(*running), target_held + int32_t(running->counters().num_running))
          << policy << " step " << steps_checked;
      for (const Sequence* waiting : running->scheduler().state().waiting) {
        EXPECT_FALSE(F::mtp(*running).has_shadow(waiting->id)) << policy << " request " << waiting->id;
      }
      ++steps_checked;
    };
    Engine engine(*F::model_, c);
    running = &engine;
    const std::vector<Output> out = F::run(engine, requests, arrivals);
    running = nullptr;
    for (size_t i = 0; i < requests.size(); ++i) F::expect_same(out[i], ref[i], policy + " request " + std::to_string(i));
    EXPECT_GT(steps_checked, 0) << policy;
    EXPECT_EQ(engine.block_manager().num_free_blocks(), 16) << policy;
    EXPECT_EQ(F::mtp_held_blocks(engine), 0) << policy;
    EXPECT_GT(engine.counters().preemptions, 0) << policy << ": the soak should run short of blocks";
    EXPECT_GT(F::mtp(engine).num_allocation_failures(), 0) << policy << ": the module's cache should run out";
    expect_accepted_and_rejected(engine.counters(), policy);
  }
}

// The module runs after every step over the positions whose next token is
// known, in passes of at most the step's token budget: long prompts in
// small chunks leave at most one target row per sequence waiting.
TYPED_TEST(MtpTest, KeepsAtMostOneHiddenRowPerSequence) {
  using F = TestFixture;
  std::vector<Request> requests;
  for (int32_t i = 0; i < 3; ++i) {
    requests.push_back(greedy(repetitive_prompt(7, 20 + 5 * i, 9, 900 + uint32_t(i)), 12));
  }
  const std::vector<Output> ref = F::run(F::config("chunked"), requests);
  EngineConfig c = F::with_mtp(F::config("chunked"), 2);
  c.max_num_batched_tokens = 24;
  int64_t steps_checked = 0;
  const Engine* running = nullptr;
  c.before_step = [&] {
    if (!running) return;
    EXPECT_LE(F::mtp(*running).num_kept_rows(), int64_t(requests.size())) << "step " << steps_checked;
    ++steps_checked;
  };
  Engine engine(*F::model_, c);
  running = &engine;
  const std::vector<Output> out = F::run(engine, requests);
  running = nullptr;
  EXPECT_GT(steps_checked, 10);
  for (size_t i = 0; i < requests.size(); ++i) F::expect_same(out[i], ref[i], "request " + std::to_string(i));
  EXPECT_GT(engine.counters().spec_num_accepted_tokens, 0);
}

// The module's input math, pinned on a deepseek_v3 synth at branch gain 0:
// every branch's output projection is zero (each block, the module's too,
// is the identity) and eh_proj is the identity on its first half, so a row
// comes out as eh_proj's input's first half: enorm(embedding of the next
// token), zero at position 0 (vLLM's mask), whatever the previous hidden
// state (which the second half holds).
struct DeepseekMtpIdentityBlocks {
  static constexpr const char* arch = "deepseek_v3";
  static constexpr int64_t mtp_modules = 1;
  static constexpr float branch_gain = 0.0f;
};
using MtpInputTest = EngineFixture<DeepseekMtpIdentityBlocks>;

TEST_F(MtpInputTest, RowIsTheNormedNextTokenEmbeddingFirstMaskedAtPositionZero) {
  const ModelConfig& mc = model_->config();
  const int64_t h = mc.hidden_size;
  ModelConfig one_layer = mc;
  one_layer.num_hidden_layers = 1;
  PagedKVCache kv(one_layer, 4, 16);
  const std::vector<int32_t> table{0, 1};
  kv.bind(0, &table);
  const std::vector<int32_t> positions{0, 1, 2}, slots{0, 0, 0}, tokens{5, 9, 17};
  std::vector<float> previous(size_t(3 * h));
  for (size_t i = 0; i < previous.size(); ++i) previous[i] = std::sin(float(i));
  std::vector<float> out(size_t(3 * h));
  model_->mtp_forward(0, BatchRows{3, positions.data(), slots.data()}, tokens.data(), previous.data(), out.data(), kv);
  for (int64_t i = 0; i < h; ++i) EXPECT_EQ(out[size_t(i)], 0.0f) << "position 0, element " << i;
  // enorm(e) = e / rms(e) * w: its ratio to e / rms(e) is the same weight w for both tokens.
  std::vector<float> embedded(size_t(2 * h));
  model_->embed(tokens.data() + 1, 2, embedded.data());
  std::vector<std::vector<float>> weight(2);
  for (int64_t r = 0; r < 2; ++r) {
    const float* e = &embedded[size_t(r * h)];
    double sum = 0;
    for (int64_t i = 0; i < h; ++i) sum += double(e[i]) * e[i];
    const double rms = std::sqrt(sum / double(h) + mc.rms_norm_eps);
    for (int64_t i = 0; i < h; ++i) weight[size_t(r)].push_back(float(out[size_t((r + 1) * h + i)] * rms / e[i]));
  }
  for (int64_t i = 0; i < h; ++i) {
    EXPECT_NEAR(weight[0][size_t(i)], weight[1][size_t(i)], 1e-3) << "element " << i;
    EXPECT_NEAR(weight[0][size_t(i)], 1.0, 0.5) << "element " << i << ": a norm weight (1 +- noise)";
  }
}

// mtp on a model without MTP modules stops start-up with one line saying why.
TEST_F(SpeculativeTest, MtpWithoutModulesIsRefusedAtStartup) {
  auto one_line_error = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      return what;
    }
    ADD_FAILURE() << "no error";
    return "";
  };
  // An architecture without MTP (qwen3_moe), even when loaded asking for them.
  const std::string no_modules = one_line_error([&] {
    const auto model = Model::load(dir_->string(), {.mtp = true});
    Engine engine(*model, [] {
      EngineConfig c;
      c.num_kv_blocks = 16;
      c.speculative = SpeculativeConfig::parse(R"({"method": "mtp", "num_speculative_tokens": 2})");
      return c;
    }());
  });
  EXPECT_NE(no_modules.find("method \"mtp\" needs the model's MTP modules, and qwen3_moe has none"), std::string::npos)
      << no_modules;
  // A MiniMax-M2 config declaring modules its weights lack, as the published checkpoints do.
  const fs::path dir = fs::path(dir_->string() + "_declared_mtp");
  SynthOptions options;
  options.config = synth_preset("tiny", "minimax_m2");
  options.tokenizer_dir = default_synth_tokenizer_dir();
  synthesize_model(dir.string(), options);
  nlohmann::json config;
  std::ifstream(dir / "config.json") >> config;
  config["use_mtp"] = true;
  config["num_mtp_modules"] = 3;
  std::ofstream(dir / "config.json") << config.dump();
  EXPECT_EQ(Model::load(dir.string())->num_mtp_modules(), 0);  // served without them
  const std::string missing = one_line_error([&] { Model::load(dir.string(), {.mtp = true}); });
  EXPECT_NE(missing.find("config.json declares 3 MTP modules, but they cannot be loaded"), std::string::npos) << missing;
  EXPECT_NE(missing.find("model.layers.2."), std::string::npos) << missing;
  fs::remove_all(dir);
}
