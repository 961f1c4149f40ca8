#include "kernels/mla_attention.h"

#include <algorithm>
#include <vector>

#include "kernels/ops.h"

namespace strata {

void mla_attention_scalar(const MlaAttentionArgs& a) {
  const int64_t width = a.kv_lora_rank + a.rope_dim, n = a.n_keys;
  thread_local std::vector<float> scores;  // [head][position]
  scores.resize(size_t(a.n_heads * n));
  for (int64_t p = 0; p < n; ++p) {
    const float* k = a.row(p);
    for (int64_t h = 0; h < a.n_heads; ++h) {
      const float* q = a.q + h * width;
      float dot = 0;
      for (int64_t i = 0; i < width; ++i) dot += q[i] * k[i];
      scores[size_t(h * n + p)] = dot * a.scale;
    }
  }
  for (int64_t h = 0; h < a.n_heads; ++h) {
    float* s = &scores[size_t(h * n)];
    softmax_scalar(s, n);
    float* out = a.out + h * a.kv_lora_rank;
    std::fill(out, out + a.kv_lora_rank, 0.0f);
    for (int64_t p = 0; p < n; ++p) {
      const float* c = a.row(p);
      for (int64_t i = 0; i < a.kv_lora_rank; ++i) out[i] += s[p] * c[i];
    }
  }
}

void mla_attention(const MlaAttentionArgs& args) {
  static const SelectedKernel kernel(kMlaPagedAttention);
  kernel()(args);
}

}  // namespace strata
