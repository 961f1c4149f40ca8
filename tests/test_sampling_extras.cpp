// Logits processors and stop strings against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "engine/logits_processors.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/stop_checker.h"
#include "kernels/ops.h"

using namespace strata;

TEST(Penalties, RepetitionDividesPositiveAndMultipliesNegativeOverPromptAndOutput) {
  std::vector<float> logits = {2.0f, -1.0f, 3.0f, 0.5f, -2.0f};
  apply_penalties(logits.data(), 5, {.repetition = 2.0f}, /*prompt=*/{0, 1, 1}, /*output=*/{4, 99});
  EXPECT_EQ(logits, (std::vector<float>{1.0f, -2.0f, 3.0f, 0.5f, -4.0f}));
}

TEST(Penalties, PresenceAndFrequencyCountOutputTokensOnly) {
  std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  // Token 1 appears twice in the output, token 2 once, token 3 only in the prompt.
  apply_penalties(logits.data(), 4, {.presence = 0.5f, .frequency = 0.25f}, {3, 3}, {1, 2, 1});
  EXPECT_FLOAT_EQ(logits[0], 1.0f);
  EXPECT_FLOAT_EQ(logits[1], 1.0f - 0.5f - 2 * 0.25f);
  EXPECT_FLOAT_EQ(logits[2], 1.0f - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(logits[3], 1.0f);
}

TEST(Penalties, AllTogetherAndValidation) {
  std::vector<float> logits = {4.0f, -4.0f};
  apply_penalties(logits.data(), 2, {.repetition = 2.0f, .presence = 1.0f, .frequency = 1.0f}, {}, {0, 1});
  // repetition first: 2, -8; then each token once in the output: -2 each.
  EXPECT_EQ(logits, (std::vector<float>{0.0f, -10.0f}));
  EXPECT_THROW((PenaltyParams{.repetition = 0}).validate(), Error);
  EXPECT_THROW((PenaltyParams{.presence = 2.5f}).validate(), Error);
  EXPECT_THROW((PenaltyParams{.frequency = -3}).validate(), Error);
  EXPECT_FALSE(PenaltyParams{}.active());
}

TEST(Penalties, MinTokensSuppressesTokens) {
  std::vector<float> logits = {5.0f, 1.0f, 2.0f};
  suppress_tokens(logits.data(), 3, {0, 7});
  EXPECT_TRUE(std::isinf(logits[0]) && logits[0] < 0);
  EXPECT_EQ(argmax(logits.data(), 3), 2);
}

TEST(Logprobs, LogSoftmaxOfTheRawLogits) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  const double lse = log_sum_exp(logits.data(), 4);
  EXPECT_NEAR(lse, std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0)), 1e-9);
  const auto top = top_logprobs(logits.data(), 4, 3, lse);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);  // ties: lower id first
  EXPECT_EQ(top[1].first, 3);
  EXPECT_EQ(top[2].first, 2);
  EXPECT_NEAR(top[0].second, 3.0 - lse, 1e-6);
  EXPECT_NEAR(top[2].second, 2.0 - lse, 1e-6);
  EXPECT_EQ(top_logprobs(logits.data(), 4, 0, lse).size(), 0u);
  EXPECT_EQ(top_logprobs(logits.data(), 4, 10, lse).size(), 4u);
}

TEST(Seed, SameSeedSameDraws) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = float(i % 7) * 0.3f;
  auto draws = [&](uint64_t seed) {
    Sampler s(SamplingParams{.temperature = 1.0f, .seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 20; ++i) out.push_back(s.sample(logits.data(), 50));
    return out;
  };
  EXPECT_EQ(draws(3), draws(3));
  EXPECT_NE(draws(3), draws(4));
}

TEST(GenerationParams, Validation) {
  GenerationParams p;
  EXPECT_NO_THROW(p.validate());
  p.min_tokens = 20;
  EXPECT_THROW(p.validate(), Error);
  p = {};
  p.stop = {""};
  EXPECT_THROW(p.validate(), Error);
  p = {};
  p.max_tokens = 0;
  EXPECT_THROW(p.validate(), Error);
}

namespace {

// Feeds pieces; returns everything shown and the match.
std::pair<std::string, std::optional<std::string>> feed(StopChecker& checker, const std::vector<std::string>& pieces,
                                                        std::vector<std::string>* shown = nullptr) {
  std::string text;
  for (const std::string& p : pieces) {
    StopChecker::Result r = checker.push(p);
    text += r.text;
    if (shown) shown->push_back(r.text);
    if (r.matched) return {text, r.matched};
  }
  return {text + checker.release(), std::nullopt};
}

}  // namespace

TEST(StopChecker, MatchesAcrossPiecesAndHoldsBackPossibleStarts) {
  StopChecker checker({"STOP"}, false);
  std::vector<std::string> shown;
  auto [text, matched] = feed(checker, {"hello S", "T", "OP and more"}, &shown);
  EXPECT_EQ(text, "hello ");
  EXPECT_EQ(matched, "STOP");
  EXPECT_EQ(shown, (std::vector<std::string>{"hello ", "", ""}));
}

TEST(StopChecker, ReleasesAFalseStart) {
  StopChecker checker({"STOP"}, false);
  std::vector<std::string> shown;
  auto [text, matched] = feed(checker, {"a ST", "ART", " x S"}, &shown);
  EXPECT_FALSE(matched);
  EXPECT_EQ(shown, (std::vector<std::string>{"a ", "START", " x "}));
  EXPECT_EQ(text, "a START x S");  // the held "S" comes out at the end
}

TEST(StopChecker, IncludeStopStringAndEarliestMatchWins) {
  StopChecker include({"STOP"}, true);
  EXPECT_EQ(feed(include, {"ab", "STOPcd"}).first, "abSTOP");
  StopChecker two({"world", "lo w"}, false);
  auto [text, matched] = feed(two, {"hello world"});
  EXPECT_EQ(text, "hel");
  EXPECT_EQ(matched, "lo w");
  StopChecker none({}, false);
  EXPECT_EQ(none.push("abc").text, "abc");
  // After a match nothing more is shown.
  StopChecker done({"x"}, false);
  EXPECT_EQ(done.push("axb").text, "a");
  EXPECT_EQ(done.push("more").text, "");
}
