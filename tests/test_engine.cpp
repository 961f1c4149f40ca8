// The engine end to end on a tiny synthetic 4-layer MoE model (and, for
// the policy and prefix-caching tests, a 4-layer DeepSeek-V3 one, whose
// paged cache holds MLA latent rows): greedy outputs must not depend on the
// schedule policy, on what else is in the batch, on prefix caching or on
// preemption. The model's matmul computes each
// row independently of the others and its MoE sums routes in a fixed order,
// so the logits are bit-identical in every case; the tests compare the
// sampled tokens' log-probabilities exactly, not just the tokens.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/service_errors.h"
#include "engine/block_manager.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "tools/synth.h"
#include "engine_fixture.h"

using namespace strata;
namespace fs = std::filesystem;

using namespace engine_test;

namespace {

class EngineTest : public EngineFixture<QwenMoe> {};
template <typename Arch>
class EngineArchTest : public EngineFixture<Arch> {};
using Archs = ::testing::Types<QwenMoe, DeepseekMla>;
TYPED_TEST_SUITE(EngineArchTest, Archs);

std::vector<Request> mixed_requests() {
  std::vector<Request> r;
  const int32_t lengths[] = {70, 9, 130, 33, 48, 17};
  for (uint32_t i = 0; i < 6; ++i) r.push_back(greedy(make_prompt(lengths[i], 100 + i), 6 + int32_t(i)));
  return r;
}

}  // namespace

TYPED_TEST(EngineArchTest, GreedyOutputIsTheSameForEveryPolicyAndBatch) {
  using F = TestFixture;
  const std::vector<Request> requests = mixed_requests();
  // The reference: each request alone, prefilled whole.
  std::vector<Output> ref;
  for (const Request& r : requests) ref.push_back(F::run(F::config("whole"), {r})[0]);
  for (const Output& o : ref) {
    ASSERT_EQ(o.finish, FinishReason::Length);
    ASSERT_EQ(o.logprobs.size(), o.tokens.size());
  }
  for (const std::string policy : {"whole", "chunked", "layered", "slo"}) {
    Engine engine(*F::model_, F::config(policy));
    // All at once, and arriving while others run.
    const std::vector<Output> together = F::run(engine, requests);
    const std::vector<Output> staggered = F::run(engine, requests, {0, 0, 2, 3, 5, 9});
    for (size_t i = 0; i < requests.size(); ++i) {
      F::expect_same(together[i], ref[i], policy + " batched, request " + std::to_string(i));
      F::expect_same(staggered[i], ref[i], policy + " staggered, request " + std::to_string(i));
    }
    EXPECT_EQ(engine.block_manager().usage(), 0.0);
    EXPECT_EQ(engine.num_saved_activations(), 0u);

    // The policy really did what it says.
    const std::vector<StepStats> steps = engine.take_step_stats();
    const ModelConfig& mc = F::model_->config();
    bool staged = false, chunked = false;
    for (const StepStats& s : steps) {
      int64_t moe_layer_runs = 0, most_touched = 0;
      for (const StepStats::Segment& seg : s.segments) {
        staged |= seg.layer_end - seg.layer_begin < 4;
        for (int32_t layer = seg.layer_begin; layer < seg.layer_end; ++layer) {
          if (!mc.is_moe_layer(layer)) continue;
          ++moe_layer_runs;
          most_touched += std::min<int64_t>(mc.num_experts, seg.rows * mc.num_experts_per_tok);
        }
      }
      chunked |= s.prefill_tokens > 0 && s.prefill_tokens <= 32 && s.segments.size() == 1 && s.decode_tokens > 0;
      // The expert traffic the policies are compared by: a step reads each
      // MoE layer's experts once, for all the rows it runs through that layer
      // (a layered cohort's prefill included), never once per sequence.
      EXPECT_EQ(s.moe_calls, moe_layer_runs) << policy << " step " << s.index;
      EXPECT_GE(s.experts_touched, s.moe_calls);
      EXPECT_LE(s.experts_touched, most_touched);
      EXPECT_EQ(s.expert_bytes > 0, s.moe_calls > 0);
    }
    EXPECT_EQ(staged, policy == "layered" || policy == "slo") << policy;
    if (policy == "chunked") EXPECT_TRUE(chunked);
  }
}

TYPED_TEST(EngineArchTest, PrefixCachingDoesNotChangeOutputs) {
  using F = TestFixture;
  const std::vector<int32_t> shared = make_prompt(80, 5);
  std::vector<Request> requests;
  for (uint32_t i = 0; i < 3; ++i) {
    std::vector<int32_t> prompt = shared;
    const std::vector<int32_t> tail = make_prompt(5 + int32_t(i) * 7, 50 + i);
    prompt.insert(prompt.end(), tail.begin(), tail.end());
    requests.push_back(greedy(prompt, 6));
  }
  for (const std::string policy : {"chunked", "layered", "slo"}) {
    EngineConfig on = F::config(policy), off = F::config(policy);
    off.prefix_caching = false;
    // One after another, so that later requests find the shared blocks.
    const std::vector<Output> cached = F::run(on, requests, {0, 12, 24});
    const std::vector<Output> uncached = F::run(off, requests, {0, 12, 24});
    for (size_t i = 0; i < requests.size(); ++i) F::expect_same(cached[i], uncached[i], policy);
    EXPECT_EQ(cached[0].cached_tokens, 0);
    EXPECT_EQ(cached[1].cached_tokens, 80);
    EXPECT_EQ(uncached[1].cached_tokens, 0);
  }
  Engine engine(*F::model_, F::config("chunked"));
  F::run(engine, requests, {0, 12, 24});
  const EngineCounters c = engine.counters();
  EXPECT_EQ(c.prefix_cache_hits, 160);
  EXPECT_GT(c.prefix_cache_queries, c.prefix_cache_hits);
}

// Prefix caching under a KV budget too small to keep every prefix: three
// prompt families (a shared 48-token prefix each) take turns, so a family's
// cached blocks are evicted by the others before it returns. The outputs
// stay bit-identical to an uncached run, some prefixes are still found, and
// fewer than with room for all (so eviction really happened).
TEST_F(EngineTest, PrefixCacheUnderEvictionKeepsOutputs) {
  std::vector<Request> requests;
  for (uint32_t i = 0; i < 7; ++i) {
    std::vector<int32_t> prompt = make_prompt(48, 300 + i % 3);
    const std::vector<int32_t> tail = make_prompt(4 + int32_t(i) * 3, 400 + i);
    prompt.insert(prompt.end(), tail.begin(), tail.end());
    requests.push_back(greedy(prompt, 8));
  }
  const std::vector<int> one_by_one = {0, 40, 80, 120, 160, 200, 240};
  for (const std::string policy : {"chunked", "layered"}) {
    EngineConfig roomy = config(policy), tight = config(policy), off = config(policy);
    tight.num_kv_blocks = off.num_kv_blocks = 10;  // two requests' worth (5 blocks each)
    off.prefix_caching = false;
    const std::vector<Output> uncached = run(off, requests, one_by_one);
    Engine roomy_engine(*model_, roomy);
    run(roomy_engine, requests, one_by_one);
    Engine tight_engine(*model_, tight);
    const std::vector<Output> cached = run(tight_engine, requests, one_by_one);
    for (size_t i = 0; i < requests.size(); ++i) expect_same(cached[i], uncached[i], policy + " evicting cache");
    const int64_t hits = tight_engine.counters().prefix_cache_hits;
    EXPECT_GT(hits, 0) << policy;
    EXPECT_LT(hits, roomy_engine.counters().prefix_cache_hits) << policy;
    EXPECT_EQ(tight_engine.block_manager().usage(), 0.0);
    // All at once and decoding longer (7 blocks each): preemption and
    // eviction together, against each request run alone without the cache.
    std::vector<Request> longer = requests;
    EngineConfig alone = roomy;
    alone.prefix_caching = false;
    for (Request& r : longer) r.params.max_tokens = 40;
    Engine storm(*model_, tight);
    const std::vector<Output> together = run(storm, longer);
    for (size_t i = 0; i < longer.size(); ++i) {
      expect_same(together[i], run(alone, {longer[i]})[0], policy + " preempting cache");
    }
    EXPECT_GT(storm.counters().preemptions, 0) << policy;
    EXPECT_GT(storm.counters().prefix_cache_hits, 0) << policy;
  }
}

TEST_F(EngineTest, PreemptionUnderATinyKVBudgetKeepsOutputs) {
  std::vector<Request> requests;
  for (uint32_t i = 0; i < 5; ++i) requests.push_back(greedy(make_prompt(40 + int32_t(i) * 5, 200 + i), 24));
  std::vector<Output> ref;
  for (const Request& r : requests) ref.push_back(run(config("whole"), {r})[0]);
  for (const std::string policy : {"whole", "chunked", "layered", "slo"}) {
    EngineConfig c = config(policy);
    c.num_kv_blocks = 12;  // 192 positions for 5 requests of ~70-90
    c.tbt_slo_ms = 1000;   // slo: room for every prompt at once
    Engine engine(*model_, c);
    const std::vector<Output> out = run(engine, requests);
    for (size_t i = 0; i < requests.size(); ++i) expect_same(out[i], ref[i], policy + " preempted");
    EXPECT_GT(engine.counters().preemptions, 0) << policy;
    EXPECT_EQ(engine.block_manager().usage(), 0.0);
  }
}

TEST_F(EngineTest, AbortMidPrefillAndMidDecodeFreesEverything) {
  for (const std::string policy : {"chunked", "layered"}) {
    Engine engine(*model_, config(policy));
    auto decoding = engine.submit(greedy(make_prompt(10, 2), 50));
    engine.step();
    auto prefilling = engine.submit(greedy(make_prompt(200, 1), 50));
    auto waiting = engine.submit(greedy(make_prompt(30, 3), 50));
    // Two steps: the long prompt is still in its prefill (7 chunks of 31, or 4
    // layer stages) while the short one decodes.
    engine.step();
    engine.step();
    std::vector<int32_t> decoded;
    while (auto e = decoding->try_next()) decoded.insert(decoded.end(), e->token_ids.begin(), e->token_ids.end());
    ASSERT_EQ(decoded.size(), 3u) << policy;
    while (auto e = prefilling->try_next()) ASSERT_TRUE(e->token_ids.empty()) << policy << ": prefill already done";
    // Layered: both prompts form the cohort in flight, their activations kept.
    if (policy == "layered") EXPECT_EQ(engine.num_saved_activations(), 2u);
    engine.abort(prefilling->id());
    engine.abort(decoding->id());
    engine.abort(waiting->id());
    engine.abort(12345);  // unknown: ignored
    engine.step();
    for (auto* s : {&prefilling, &decoding, &waiting}) {
      std::optional<StreamEvent> last;
      while (auto e = (*s)->try_next()) last = e;
      ASSERT_TRUE(last && last->finish) << policy;
      EXPECT_EQ(*last->finish, FinishReason::Abort);
      EXPECT_TRUE((*s)->finished());
    }
    EXPECT_FALSE(engine.has_unfinished());
    EXPECT_EQ(engine.block_manager().usage(), 0.0) << policy;
    EXPECT_EQ(engine.num_saved_activations(), 0u) << policy;
    EXPECT_EQ(engine.counters().finished_by_reason[size_t(FinishReason::Abort)], 3);
  }
}

TEST_F(EngineTest, StopStringsAcrossTokenBoundariesAreNeverEmitted) {
  Request base = greedy(make_prompt(20, 9), 24);
  const Tokenizer& tok = model_->tokenizer();
  const Output full = run(config("chunked"), {base})[0];
  // Pick two neighbouring tokens that decode to plain ASCII of 2+ characters
  // and make a stop string from the end of one and the start of the next.
  std::string stop;
  size_t boundary = 0;
  for (size_t i = 1; i + 1 < full.tokens.size() && stop.empty(); ++i) {
    const std::string a = tok.decode({full.tokens[i]}), b = tok.decode({full.tokens[i + 1]});
    auto ascii = [](const std::string& s) {
      return s.size() >= 2 && std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 127; });
    };
    if (ascii(a) && ascii(b)) {
      stop = a.substr(a.size() - 1) + b.substr(0, 1);
      boundary = i;
    }
  }
  ASSERT_FALSE(stop.empty()) << "no two ASCII tokens in a row in: " << full.text;
  ASSERT_EQ(full.text, tok.decode(full.tokens, true));
  const size_t at = full.text.find(stop);
  ASSERT_NE(at, std::string::npos);

  for (bool include : {false, true}) {
    Request r = base;
    r.params.stop = {"never-there", stop};
    r.params.include_stop_str_in_output = include;
    Engine engine(*model_, config("chunked"));
    auto stream = engine.submit(r);
    std::string streamed;
    std::optional<StreamEvent> last;
    while (engine.has_unfinished()) {
      engine.step();
      while (auto e = stream->try_next()) {
        streamed += e->text;
        if (!include) EXPECT_EQ(streamed.find(stop), std::string::npos) << "stop string emitted";
        last = e;
      }
    }
    ASSERT_TRUE(last && last->finish);
    EXPECT_EQ(*last->finish, FinishReason::Stop);
    EXPECT_EQ(last->stop_string, stop);
    EXPECT_EQ(streamed, full.text.substr(0, include ? at + stop.size() : at));
    EXPECT_LE(last->completion_tokens, int32_t(boundary) + 2);
  }
}

TEST_F(EngineTest, StopTokenIdsAndMaxTokensAndMinTokens) {
  Request base = greedy(make_prompt(20, 9), 12);
  const Output full = run(config("whole"), {base})[0];
  Request r = base;
  r.params.stop_token_ids = {full.tokens[4]};
  const Output stopped = run(config("whole"), {r})[0];
  const size_t first = size_t(std::find(full.tokens.begin(), full.tokens.end(), full.tokens[4]) - full.tokens.begin());
  EXPECT_EQ(stopped.tokens, std::vector<int32_t>(full.tokens.begin(), full.tokens.begin() + long(first) + 1));
  EXPECT_EQ(stopped.finish, FinishReason::Stop);
  // min_tokens forbids the stop token before it is reached.
  r.params.min_tokens = int32_t(first) + 2;
  const Output later = run(config("whole"), {r})[0];
  EXPECT_GE(later.tokens.size(), first + 2);
  for (size_t i = 0; i + 1 < size_t(r.params.min_tokens); ++i) EXPECT_NE(later.tokens[i], full.tokens[4]);
  EXPECT_EQ(full.finish, FinishReason::Length);
  EXPECT_EQ(full.tokens.size(), 12u);
}

// A failed step fails its requests with the reason and the loop carries on;
// a loop that stops refuses new requests as Unavailable (the server's
// failure, HTTP 503), not as an invalid request.
TEST_F(EngineTest, FailedStepsFailTheirRequestsAndAStoppedLoopIsUnavailable) {
  auto fail_once = std::make_shared<std::atomic<bool>>(true);
  EngineConfig c = config("layered");
  c.before_step = [fail_once] {
    if (fail_once->exchange(false)) throw std::runtime_error("injected step failure");
  };
  Engine engine(*model_, c);
  auto failed = engine.submit(greedy(make_prompt(8, 1), 4));
  engine.start();
  StreamEvent last;
  while (auto event = failed->next()) last = *event;
  EXPECT_EQ(last.finish, FinishReason::Abort);
  EXPECT_EQ(last.error, "injected step failure");
  EXPECT_TRUE(engine.loop_alive());
  auto served = engine.submit(greedy(make_prompt(8, 1), 4));
  while (auto event = served->next()) last = *event;
  EXPECT_EQ(last.finish, FinishReason::Length);
  engine.stop();

  c.before_step = [] { throw 42; };  // not a std::exception: the loop stops
  Engine stopped(*model_, c);
  stopped.start();
  while (stopped.loop_alive()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_THROW(stopped.submit(greedy(make_prompt(8, 1), 4)), Unavailable);
}

TEST_F(EngineTest, RequestsThatCanNeverFitAreRejected) {
  EngineConfig c = config("layered");
  c.num_kv_blocks = 4;  // 64 positions
  Engine engine(*model_, c);
  try {
    engine.submit(greedy(make_prompt(60, 1), 10));
    FAIL() << "expected InvalidRequest";
  } catch (const InvalidRequest& e) {
    EXPECT_NE(std::string(e.what()).find("can never fit the KV cache"), std::string::npos) << e.what();
  }
  EXPECT_THROW(engine.submit(greedy(make_prompt(1000, 1), 100)), InvalidRequest);  // past max_model_len
  EXPECT_THROW(engine.submit(greedy({1, 2, 999999999}, 4)), InvalidRequest);       // not a token id
  Request bad = greedy(make_prompt(4, 1), 4);
  bad.params.penalties.repetition = 0;
  EXPECT_THROW(engine.submit(bad), InvalidRequest);
  EXPECT_EQ(engine.counters().requests_rejected, 2);
  EXPECT_FALSE(engine.has_unfinished());
  // It still serves requests that fit.
  EXPECT_EQ(run(engine, {greedy(make_prompt(30, 1), 5)})[0].tokens.size(), 5u);
}

TEST_F(EngineTest, BackgroundLoopStreamsAndCallsBack) {
  const std::vector<Request> requests = mixed_requests();
  std::vector<Output> ref;
  for (const Request& r : requests) ref.push_back(run(config("whole"), {r})[0]);

  Engine engine(*model_, config("layered"));
  engine.start();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (size_t i = 0; i + 1 < requests.size(); ++i) streams.push_back(engine.submit(requests[i]));
  // The last request uses the callback, called on the engine's thread.
  std::mutex mutex;
  std::condition_variable done;
  Output called_back;
  Request with_callback = requests.back();
  with_callback.on_event = [&](const StreamEvent& e) {
    std::lock_guard lock(mutex);
    called_back.add(e);
    if (e.finish) done.notify_all();
  };
  engine.submit(with_callback);
  // A request aborted from this thread while the loop runs.
  auto aborted = engine.submit(greedy(make_prompt(300, 77), 500));
  engine.abort(aborted->id());
  for (size_t i = 0; i < streams.size(); ++i) {
    Output out;
    while (auto e = streams[i]->next()) out.add(*e);
    expect_same(out, ref[i], "threaded " + std::to_string(i));
  }
  {
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return called_back.finish.has_value(); });
  }
  expect_same(called_back, ref.back(), "callback");
  std::optional<StreamEvent> last;
  while (auto e = aborted->next()) last = e;
  ASSERT_TRUE(last && last->finish);
  EXPECT_EQ(*last->finish, FinishReason::Abort);
  engine.stop();
  const EngineCounters c = engine.counters();
  EXPECT_EQ(c.num_running + c.num_waiting, 0);
  EXPECT_EQ(c.finished_by_reason[size_t(FinishReason::Length)], int64_t(requests.size()));
  int64_t generated = 0;
  for (const Output& o : ref) generated += int64_t(o.tokens.size());
  EXPECT_GE(c.generation_tokens, generated);

  // Per-request records: one time per token, after arrival.
  const std::vector<RequestRecord> records = engine.take_request_records();
  EXPECT_EQ(records.size(), requests.size() + 1);
  for (const RequestRecord& r : records) {
    if (r.finish != FinishReason::Length) continue;
    ASSERT_FALSE(r.token_times.empty());
    EXPECT_GE(r.first_token, r.arrival);
    EXPECT_EQ(r.first_token, r.token_times.front());
    EXPECT_TRUE(std::is_sorted(r.token_times.begin(), r.token_times.end()));
  }
}

TEST_F(EngineTest, SeededSamplingWithPenaltiesIsIndependentOfTheBatch) {
  Request r = greedy(make_prompt(40, 11), 10);
  r.params.sampling = SamplingParams{.temperature = 0.8f, .top_k = 50};
  r.params.seed = 42;
  r.params.penalties = {.repetition = 1.3f, .presence = 0.2f, .frequency = 0.1f};
  r.params.logprobs = 3;
  // Alone, watched through the callback (events go there, not to the stream).
  std::vector<TokenLogprob> alone_logprobs;
  Output alone;
  Request watched = r;
  watched.on_event = [&](const StreamEvent& e) {
    alone.add(e);
    alone_logprobs.insert(alone_logprobs.end(), e.logprobs.begin(), e.logprobs.end());
  };
  EXPECT_TRUE(run(config("whole"), {watched})[0].tokens.empty());
  ASSERT_EQ(alone_logprobs.size(), 10u);
  for (const TokenLogprob& lp : alone_logprobs) {
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_GE(lp.top[0].second, lp.top[1].second);
    EXPECT_LE(lp.logprob, lp.top[0].second);
    EXPECT_LE(lp.logprob, 0.0f);
  }
  std::vector<Request> batch = mixed_requests();
  batch.insert(batch.begin() + 2, r);
  const std::vector<Output> together = run(config("layered"), batch, {0, 0, 1, 2, 3, 5, 8});
  expect_same(together[2], alone, "seeded request in a batch");
}

TEST_F(EngineTest, SloScheduleNeedsATargetAndACostModel) {
  EngineConfig c = config("slo");
  c.tbt_slo_ms = 0;
  EXPECT_THROW(Engine(*model_, c), Error);
  c = config("slo");
  c.step_seconds = nullptr;
  EXPECT_THROW(Engine(*model_, c), Error);
}
