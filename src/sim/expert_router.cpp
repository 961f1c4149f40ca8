#include "sim/expert_router.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace strata::sim {

ExpertRouter::ExpertRouter(int32_t num_experts, int32_t top_k, double skew, uint64_t seed)
    : num_experts_(num_experts),
      top_k_(top_k),
      rng_(seed),
      call_stamp_(size_t(std::max(num_experts, 0)), 0),
      token_stamp_(size_t(std::max(num_experts, 0)), 0) {
  if (num_experts < 1 || top_k < 1 || top_k > num_experts)
    fail("router: top_k {} of {} experts is not a valid routing", top_k, num_experts);
  if (!(skew >= 0)) fail("router: skew must be non-negative, got {}", skew);
  if (skew > 0) {
    double sum = 0;
    for (int32_t e = 0; e < num_experts; ++e) cdf_.push_back(sum += std::pow(double(e + 1), -skew));
    for (double& c : cdf_) c /= sum;
  }
  pick_probability_.assign(size_t(num_experts), 1.0 / num_experts);
  for (size_t e = 0; e < cdf_.size(); ++e) pick_probability_[e] = cdf_[e] - (e ? cdf_[e - 1] : 0);
}

int32_t ExpertRouter::draw() {
  if (cdf_.empty()) return int32_t((unsigned __int128)rng_() * uint64_t(num_experts_) >> 64);
  const double u = double(rng_() >> 11) * 0x1.0p-53;
  const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  return int32_t(std::min<ptrdiff_t>(it - cdf_.begin(), num_experts_ - 1));
}

int32_t ExpertRouter::distinct_experts(int64_t tokens) {
  ++call_;
  int32_t distinct = 0;
  // Once every expert is touched more tokens change nothing, so a long
  // prefill costs about as much to sample as a short one.
  for (int64_t t = 0; t < tokens && distinct < num_experts_; ++t) {
    ++token_;
    for (int32_t picked = 0; picked < top_k_;) {
      const int32_t e = draw();
      if (token_stamp_[size_t(e)] == token_) continue;  // top-k experts are distinct
      token_stamp_[size_t(e)] = token_;
      ++picked;
      if (call_stamp_[size_t(e)] != call_) {
        call_stamp_[size_t(e)] = call_;
        ++distinct;
      }
    }
  }
  return distinct;
}

double ExpertRouter::expected_distinct_experts(int64_t tokens) {
  if (auto it = expected_by_tokens_.find(tokens); it != expected_by_tokens_.end()) return it->second;
  double expected = 0;
  for (double p : pick_probability_) expected += 1 - std::pow(1 - std::min(1.0, top_k_ * p), double(tokens));
  return expected_by_tokens_[tokens] = std::min(expected, double(num_experts_));
}

}  // namespace strata::sim
