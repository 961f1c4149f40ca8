#include "kernels/mla_attention.h"

#include <algorithm>
#include <vector>

#include "core/op_profile.h"

namespace strata {

void mla_attention_scalar(const MlaAttentionArgs& a) {
  const int64_t width = a.kv_lora_rank + a.rope_dim, begin = a.key_begin,
                n = std::max<int64_t>(a.key_end - a.key_begin, 0);
  thread_local std::vector<float> scores;  // [head][position - begin]
  scores.resize(size_t(a.n_heads * n));
  for (int64_t p = 0; p < n; ++p) {
    const float* k = a.row(begin + p);
    for (int64_t h = 0; h < a.n_heads; ++h) {
      const float* q = a.q + h * width;
      float dot = 0;
      for (int64_t i = 0; i < width; ++i) dot += q[i] * k[i];
      scores[size_t(h * n + p)] = dot * a.scale;
    }
  }
  for (int64_t h = 0; h < a.n_heads; ++h) {
    float* s = &scores[size_t(h * n)];
    const SoftmaxState state = softmax_with_state(s, n);
    if (a.states) a.states[h] = state;
    float* out = a.out + h * a.kv_lora_rank;
    std::fill(out, out + a.kv_lora_rank, 0.0f);
    for (int64_t p = 0; p < n; ++p) {
      const float* c = a.row(begin + p);
      for (int64_t i = 0; i < a.kv_lora_rank; ++i) out[i] += s[p] * c[i];
    }
  }
}

void mla_attention(const MlaAttentionArgs& args) {
  static const SelectedKernel kernel(kMlaPagedAttention);
  if (op_profile::enabled()) {
    // Per head and key: q.k over the latent and rope parts, p.c over the latent.
    const double keys = std::max(0, args.key_end - args.key_begin);
    op_profile::add_work(Work::F32Fma, 2.0 * keys * double(args.n_heads * (2 * args.kv_lora_rank + args.rope_dim)));
  }
  kernel()(args);
}

}  // namespace strata
