#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernel_calls.h"
#include "kernels/rope_rows.h"
#include "kernels/shape_choices.h"

namespace strata {

void rmsnorm_scalar(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * dim;
    double sum = 0;  // as llama.cpp: a double sum keeps long rows exact enough
    for (int64_t i = 0; i < dim; ++i) sum += double(xr[i]) * xr[i];
    const float scale = 1.0f / std::sqrt(float(sum / double(dim)) + eps);
    float* yr = y + r * dim;
    for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * scale * weight[i];
  }
}

void fused_add_rmsnorm_scalar(const float* delta, float* residual, const float* weight, float* y, int64_t n_rows,
                              int64_t dim, float eps) {
  for (int64_t i = 0; i < n_rows * dim; ++i) residual[i] += delta[i];
  rmsnorm_scalar(residual, weight, y, n_rows, dim, eps);
}

void rope_angles(int32_t position, int64_t rotary_dim, float theta, float* cos_t, float* sin_t) {
  const float theta_scale = std::pow(theta, -2.0f / float(rotary_dim));
  float angle = float(position);
  for (int64_t i = 0; i < rotary_dim / 2; ++i) {
    cos_t[i] = std::cos(angle);
    sin_t[i] = std::sin(angle);
    angle *= theta_scale;
  }
}

void rope_neox_scalar(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
                      float theta) {
  const int64_t half = rotary_dim / 2;
  for_each_rope_row(n_rows, rotary_dim, positions, theta, [&](int64_t r, const float* cos_t, const float* sin_t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (r * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * cos_t[i] - b * sin_t[i];
        v[i + half] = a * sin_t[i] + b * cos_t[i];
      }
    }
  });
}

void rope_gptj_scalar(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
                      float theta) {
  const int64_t half = rotary_dim / 2;
  for_each_rope_row(n_rows, rotary_dim, positions, theta, [&](int64_t r, const float* cos_t, const float* sin_t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (r * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * cos_t[i] - b * sin_t[i];
        v[2 * i + 1] = a * sin_t[i] + b * cos_t[i];
      }
    }
  });
}

void softmax_scalar(float* x, int64_t n) {
  if (n <= 0) return;
  const float max = *std::max_element(x, x + n);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

int64_t argmax_scalar(const float* x, int64_t n) {
  int64_t best = 0;
  float best_value = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] > best_value) {
      best_value = x[i];
      best = i;
    }
  }
  return best;
}

void silu_mul_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void topk_router_scalar(const float* logits, int64_t n_experts, int64_t top_k, const RouterParams& p, int32_t* ids,
                        float* weights) {
  thread_local std::vector<float> scores, select;
  thread_local std::vector<int32_t> order;
  scores.assign(logits, logits + n_experts);
  if (p.sigmoid) {
    for (float& s : scores) s = 1.0f / (1.0f + std::exp(-s));
  } else {
    softmax_scalar(scores.data(), n_experts);  // the reference exp, so routing ties stay as they were
  }
  select = scores;
  if (p.bias)
    for (int64_t e = 0; e < n_experts; ++e) select[size_t(e)] += p.bias[e];
  if (p.n_group > 1) {
    // Only experts of the topk_group best groups stay eligible; a group's
    // score is the sum of its two best selection scores (DeepSeek-V3).
    const int64_t per_group = n_experts / p.n_group;
    std::vector<std::pair<float, int64_t>> groups;
    for (int64_t g = 0; g < p.n_group; ++g) {
      std::vector<float> s(select.begin() + g * per_group, select.begin() + (g + 1) * per_group);
      std::partial_sort(s.begin(), s.begin() + std::min<int64_t>(2, per_group), s.end(), std::greater<>());
      groups.push_back({per_group >= 2 ? s[0] + s[1] : s[0], g});
    }
    std::stable_sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (int64_t i = p.topk_group; i < p.n_group; ++i) {
      const int64_t g = groups[size_t(i)].second;
      std::fill(select.begin() + g * per_group, select.begin() + (g + 1) * per_group, -INFINITY);
    }
  }
  order.resize(size_t(n_experts));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int32_t a, int32_t b) {
    return select[size_t(a)] > select[size_t(b)] || (select[size_t(a)] == select[size_t(b)] && a < b);
  });
  float sum = 0;
  for (int64_t i = 0; i < top_k; ++i) {
    ids[i] = order[size_t(i)];
    weights[i] = scores[size_t(ids[i])];
    sum += weights[i];
  }
  if (p.normalize)
    for (int64_t i = 0; i < top_k; ++i) weights[i] /= sum;
  if (p.scale != 1.0f)
    for (int64_t i = 0; i < top_k; ++i) weights[i] *= p.scale;
}

void moe_combine_scalar(const float* y, const int64_t* rows, const float* weights, int64_t n_tokens, int64_t top_k,
                        int64_t h, const float* shared, float* out) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    float* dst = out + t * h;
    for (int64_t j = 0; j < top_k; ++j) {
      const float wt = weights[t * top_k + j];
      const float* src = y + rows[t * top_k + j] * h;
      for (int64_t c = 0; c < h; ++c) dst[c] = j == 0 ? wt * src[c] : dst[c] + wt * src[c];
    }
    if (shared)
      for (int64_t c = 0; c < h; ++c) dst[c] += shared[t * h + c];
  }
}

namespace {

// Row-wise ops of many rows (a prompt pass) split their rows over the pool;
// a row's result does not depend on the split. Below kParallelFloats the
// fork and join cost more than they save.
constexpr int64_t kParallelFloats = 1 << 16;

void over_rows(int64_t n_rows, int64_t row_floats, const std::function<void(int64_t, int64_t)>& fn) {
  if (n_rows * row_floats < kParallelFloats) return fn(0, n_rows);
  ThreadPool::global().parallel_for(n_rows, fn);
}

}  // namespace

void rmsnorm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps) {
  static const SelectedKernel kernel(kRmsnorm);
  const int64_t shape[] = {dim};
  observe_kernel_call(kRmsnorm.name, shape, n_rows);
  const RmsNormFn fn = choose(kernel, kRmsnorm, shape, n_rows)->kernel(kRmsnorm);
  over_rows(n_rows, dim, [&](int64_t r0, int64_t r1) { fn(x + r0 * dim, weight, y + r0 * dim, r1 - r0, dim, eps); });
}
void fused_add_rmsnorm(const float* delta, float* residual, const float* weight, float* y, int64_t n_rows, int64_t dim,
                       float eps) {
  static const SelectedKernel kernel(kFusedAddRmsnorm);
  const int64_t shape[] = {dim};
  observe_kernel_call(kFusedAddRmsnorm.name, shape, n_rows);
  const FusedAddRmsNormFn fn = choose(kernel, kFusedAddRmsnorm, shape, n_rows)->kernel(kFusedAddRmsnorm);
  over_rows(n_rows, dim, [&](int64_t r0, int64_t r1) {
    fn(delta + r0 * dim, residual + r0 * dim, weight, y + r0 * dim, r1 - r0, dim, eps);
  });
}
namespace {
void rope_over_rows(RopeFn fn, float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim,
               const int32_t* positions, float theta) {
  const int64_t row = n_heads * head_dim;
  over_rows(n_rows, row, [&](int64_t r0, int64_t r1) {
    fn(x + r0 * row, r1 - r0, n_heads, head_dim, rotary_dim, positions + r0, theta);
  });
}
}  // namespace

void rope_neox(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
               float theta) {
  static const SelectedKernel kernel(kRopeNeox);
  rope_over_rows(kernel(), x, n_rows, n_heads, head_dim, rotary_dim, positions, theta);
}
void rope_gptj(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
               float theta) {
  static const SelectedKernel kernel(kRopeGptj);
  rope_over_rows(kernel(), x, n_rows, n_heads, head_dim, rotary_dim, positions, theta);
}
void moe_combine(const float* y, const int64_t* rows, const float* weights, int64_t n_tokens, int64_t top_k,
                 int64_t h, const float* shared, float* out) {
  static const SelectedKernel kernel(kMoeCombine);
  const MoeCombineFn fn = kernel();
  over_rows(n_tokens, top_k * h, [&](int64_t t0, int64_t t1) {
    fn(y, rows + t0 * top_k, weights + t0 * top_k, t1 - t0, top_k, h, shared ? shared + t0 * h : nullptr,
       out + t0 * h);
  });
}
void softmax(float* x, int64_t n) {
  static const SelectedKernel kernel(kSoftmax);
  kernel()(x, n);
}
void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  static const SelectedKernel kernel(kSiluMul);
  kernel()(gate, up, out, n);
}
int64_t argmax(const float* x, int64_t n) {
  static const SelectedKernel kernel(kArgmax);
  return kernel()(x, n);
}
void topk_router(const float* logits, int64_t n_experts, int64_t top_k, const RouterParams& params, int32_t* ids,
                 float* weights) {
  static const SelectedKernel kernel(kMoeTopkRouter);
  kernel()(logits, n_experts, top_k, params, ids, weights);
}

}  // namespace strata
