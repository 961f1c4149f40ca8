#pragma once
// Split-KV ("flash-decoding") attention: a query's key range is cut into
// chunks attended separately (by different threads), each giving its output
// normalised over its own keys plus its softmax state; merging rescales the
// parts by their states (log-sum-exp) into the attention over the union.
// The attention kernels (attention.h, mla_attention.h) write the states.
#include <cmath>
#include <cstdint>

namespace strata {

// One query's softmax over a range of keys: its largest scaled score and
// the sum of exp(score - max). An empty range is {-inf, 0} (its output 0).
struct SoftmaxState {
  float max = -INFINITY;
  float sum = 0;
};

// Softmax of n scores in place (exp(s - max) / sum; nothing for n = 0),
// returning their state: the scalar references' softmax.
SoftmaxState softmax_with_state(float* scores, int64_t n);

// out = sum_c w_c o_c / sum_c w_c with w_c = sum_c exp(max_c - max over c):
// part c's output o_c is dim floats at parts + c * part_stride, its state
// states[c * state_stride]. At least one part must be non-empty.
void merge_attention_parts(int64_t dim, int64_t n_parts, const float* parts, int64_t part_stride,
                           const SoftmaxState* states, int64_t state_stride, float* out);

}  // namespace strata
