#pragma once
// Next-token sampling: greedy (temperature 0) or a draw from the softmax of
// logits / temperature restricted by top-k, top-p and min-p (applied in that
// order, as vLLM does). Each request owns a Sampler seeded by the request, so
// a seeded request reproduces its tokens whatever else is in the batch.
#include <cstdint>
#include <random>
#include <vector>

#include "engine/sampling_params.h"

namespace strata {

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  int32_t sample(const float* logits, int64_t vocab);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<int32_t> candidates_;  // reused between calls
  std::vector<float> probs_;
};

// softmax(logits / temperature) (summed in double); temperature > 0.
std::vector<float> softmax_probs(const float* logits, int64_t n, float temperature = 1.0f);

}  // namespace strata
