#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/check.h"
#include "core/error.h"
#include "core/service_errors.h"
#include "kernels/ops.h"

namespace strata {

void SamplingParams::validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature)) refuse("sampling: temperature {} must be >= 0", temperature);
  if (top_k < 0) refuse("sampling: top_k {} must be >= 0", top_k);
  if (!(top_p > 0 && top_p <= 1)) refuse("sampling: top_p {} must be in (0, 1]", top_p);
  if (!(min_p >= 0 && min_p <= 1)) refuse("sampling: min_p {} must be in [0, 1]", min_p);
}

std::vector<float> softmax_probs(const float* logits, int64_t n, float temperature) {
  std::vector<float> p(static_cast<size_t>(n));
  if (n == 0) return p;
  const float max = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    p[size_t(i)] = std::exp((logits[i] - max) / temperature);
    sum += p[size_t(i)];
  }
  for (float& v : p) v = float(v / sum);
  return p;
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) { params_.validate(); }

int32_t Sampler::sample(const float* logits, int64_t vocab) {
  check(vocab > 0, "the sampler gets logits", "vocabulary size {}", vocab);
  if (params_.temperature == 0) return int32_t(argmax(logits, vocab));
  probs_ = softmax_probs(logits, vocab, params_.temperature);
  auto by_prob = [&](int32_t a, int32_t b) {
    return probs_[size_t(a)] > probs_[size_t(b)] || (probs_[size_t(a)] == probs_[size_t(b)] && a < b);
  };
  candidates_.resize(size_t(vocab));
  std::iota(candidates_.begin(), candidates_.end(), 0);
  // Only top-k and top-p need order; a full sort of the vocabulary is done
  // only when top-p asks for it without top-k having cut the list first.
  if (params_.top_k > 0 && params_.top_k < vocab) {
    std::partial_sort(candidates_.begin(), candidates_.begin() + params_.top_k, candidates_.end(), by_prob);
    candidates_.resize(size_t(params_.top_k));
  } else if (params_.top_p < 1) {
    std::sort(candidates_.begin(), candidates_.end(), by_prob);
  }
  if (params_.top_p < 1) {
    double kept = 0, total = 0;
    for (int32_t id : candidates_) total += probs_[size_t(id)];
    size_t keep = 0;
    while (keep < candidates_.size() && kept < params_.top_p * total) kept += probs_[size_t(candidates_[keep++])];
    candidates_.resize(std::max<size_t>(keep, 1));
  }
  if (params_.min_p > 0) {
    float top = 0;
    for (int32_t id : candidates_) top = std::max(top, probs_[size_t(id)]);
    const float floor = params_.min_p * top;
    std::erase_if(candidates_, [&](int32_t id) { return probs_[size_t(id)] < floor; });
  }
  double total = 0;
  for (int32_t id : candidates_) total += probs_[size_t(id)];
  double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
  for (int32_t id : candidates_) {
    u -= probs_[size_t(id)];
    if (u < 0) return id;
  }
  return candidates_.back();
}

}  // namespace strata
