#pragma once
// A stand-in for an MoE router: each token picks top_k distinct experts of
// num_experts, all equally likely (skew 0) or with Zipf-like popularity
// p(e) ~ 1 / (e + 1)^skew. What the cost model needs is how many distinct
// experts one MoE layer call touches, since each is read once per call.
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

namespace strata::sim {

class ExpertRouter {
 public:
  ExpertRouter(int32_t num_experts, int32_t top_k, double skew, uint64_t seed);

  // Distinct experts touched when `tokens` tokens are routed through one layer.
  int32_t distinct_experts(int64_t tokens);
  // Its expectation, without drawing: sum over experts of
  // 1 - (1 - min(1, top_k p(e)))^tokens, with p(e) the chance one pick is e
  // (exact when uniform; top_k p(e) approximates a skewed expert's chance
  // of being among a token's top_k). Deterministic, for a scheduler that
  // must not change its mind from one estimate of the same plan to the next.
  double expected_distinct_experts(int64_t tokens);

 private:
  int32_t draw();

  int32_t num_experts_, top_k_;
  std::vector<double> cdf_;  // empty when uniform
  std::vector<double> pick_probability_;  // per expert, summing to 1
  std::unordered_map<int64_t, double> expected_by_tokens_;  // a scheduler asks the same sizes again and again
  std::mt19937_64 rng_;
  // Stamps instead of clearing: expert e is touched in this call when
  // call_stamp_[e] == call_, and chosen by the current token when
  // token_stamp_[e] == token_.
  std::vector<uint64_t> call_stamp_, token_stamp_;
  uint64_t call_ = 0, token_ = 0;
};

}  // namespace strata::sim
