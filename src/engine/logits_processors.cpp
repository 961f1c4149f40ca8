#include "engine/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/service_errors.h"

namespace strata {

void PenaltyParams::validate() const {
  if (!(repetition > 0) || !std::isfinite(repetition)) refuse("repetition_penalty {} must be > 0", repetition);
  if (!(presence >= -2 && presence <= 2)) refuse("presence_penalty {} must be in [-2, 2]", presence);
  if (!(frequency >= -2 && frequency <= 2)) refuse("frequency_penalty {} must be in [-2, 2]", frequency);
}

void apply_penalties(float* logits, int64_t vocab, const PenaltyParams& params, const std::vector<int32_t>& prompt,
                     const std::vector<int32_t>& output) {
  auto in_vocab = [&](int32_t id) { return id >= 0 && id < vocab; };
  if (params.repetition != 1.0f) {
    std::unordered_set<int32_t> seen(prompt.begin(), prompt.end());
    seen.insert(output.begin(), output.end());
    for (int32_t id : seen) {
      if (!in_vocab(id)) continue;
      float& l = logits[id];
      l = l > 0 ? l / params.repetition : l * params.repetition;
    }
  }
  if (params.presence != 0.0f || params.frequency != 0.0f) {
    std::unordered_map<int32_t, int32_t> counts;
    for (int32_t id : output) counts[id]++;
    for (const auto& [id, count] : counts) {
      if (in_vocab(id)) logits[id] -= params.frequency * float(count) + params.presence;
    }
  }
}

void suppress_tokens(float* logits, int64_t vocab, const std::vector<int32_t>& ids) {
  for (int32_t id : ids) {
    if (id >= 0 && id < vocab) logits[id] = -std::numeric_limits<float>::infinity();
  }
}

double log_sum_exp(const float* logits, int64_t vocab) {
  const float max = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(double(logits[i]) - double(max));
  return double(max) + std::log(sum);
}

std::vector<std::pair<int32_t, float>> top_logprobs(const float* logits, int64_t vocab, int32_t k, double lse) {
  const int64_t n = std::min<int64_t>(std::max(k, 0), vocab);
  std::vector<int32_t> ids(static_cast<size_t>(vocab));
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + n, ids.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  std::vector<std::pair<int32_t, float>> top;
  for (int64_t i = 0; i < n; ++i) top.emplace_back(ids[size_t(i)], float(double(logits[ids[size_t(i)]]) - lse));
  return top;
}

}  // namespace strata
