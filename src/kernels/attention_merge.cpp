#include "kernels/attention_merge.h"

#include <algorithm>

namespace strata {

SoftmaxState softmax_with_state(float* scores, int64_t n) {
  SoftmaxState s;
  for (int64_t i = 0; i < n; ++i) s.max = std::max(s.max, scores[i]);
  for (int64_t i = 0; i < n; ++i) {
    scores[i] = std::exp(scores[i] - s.max);
    s.sum += scores[i];
  }
  const float inv = 1.0f / s.sum;
  for (int64_t i = 0; i < n; ++i) scores[i] *= inv;
  return s;
}

void merge_attention_parts(int64_t dim, int64_t n_parts, const float* parts, int64_t part_stride,
                           const SoftmaxState* states, int64_t state_stride, float* out) {
  float max = -INFINITY;
  for (int64_t c = 0; c < n_parts; ++c) max = std::max(max, states[c * state_stride].max);
  float total = 0;
  std::fill(out, out + dim, 0.0f);
  for (int64_t c = 0; c < n_parts; ++c) {
    const SoftmaxState& s = states[c * state_stride];
    if (s.sum == 0) continue;  // an empty part: no weight (and its max is -inf)
    const float w = s.sum * std::exp(s.max - max);
    total += w;
    const float* o = parts + c * part_stride;
    for (int64_t i = 0; i < dim; ++i) out[i] += w * o[i];
  }
  const float inv = 1.0f / total;
  for (int64_t i = 0; i < dim; ++i) out[i] *= inv;
}

}  // namespace strata
