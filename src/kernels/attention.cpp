#include "kernels/attention.h"

#include <algorithm>
#include <vector>

#include "core/op_profile.h"

namespace strata {

void attention_scalar(const AttentionArgs& a) {
  thread_local std::vector<float> scores;
  for (int64_t r = 0; r < a.n_rows; ++r) {
    const int64_t begin = a.key_begin, n_pos = std::max<int64_t>(a.keys_end(r) - begin, 0);
    scores.resize(size_t(n_pos));
    for (int64_t j = 0; j < a.n_heads; ++j) {
      const float* q = a.q + r * a.row_stride + j * a.head_dim;
      float* out = a.out + r * a.row_stride + j * a.head_dim;
      for (int64_t p = 0; p < n_pos; ++p) {
        const float* k = a.key(begin + p);
        float dot = 0;
        for (int64_t i = 0; i < a.head_dim; ++i) dot += q[i] * k[i];
        scores[size_t(p)] = dot * a.scale;
      }
      const SoftmaxState state = softmax_with_state(scores.data(), n_pos);
      if (a.states) a.states[r * a.state_row_stride + j] = state;
      std::fill(out, out + a.head_dim, 0.0f);
      for (int64_t p = 0; p < n_pos; ++p) {
        const float s = scores[size_t(p)];
        const float* v = a.value(begin + p);
        for (int64_t i = 0; i < a.head_dim; ++i) out[i] += s * v[i];
      }
    }
  }
}

void attention(const AttentionArgs& args) {
  static const SelectedKernel kernel(kGqaPagedAttention);
  if (op_profile::enabled()) {
    // q.k and p.v: 4 flops per key, head dimension and head.
    double keys = 0;
    for (int64_t r = 0; r < args.n_rows; ++r) keys += std::max(0, args.keys_end(r) - args.key_begin);
    op_profile::add_work(Work::F32Fma, 4.0 * keys * double(args.head_dim * args.n_heads));
  }
  kernel()(args);
}

}  // namespace strata
