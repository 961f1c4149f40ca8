#pragma once
// The element-wise and small ops of a decoder layer (f32 in, f32 out).
// rmsnorm, fused_add_rmsnorm, rope_neox, rope_gptj, softmax, silu_mul, argmax and
// moe_topk_router are kernel definitions: each
// function below is its definition's dispatch point and runs the selected
// solution (a scalar reference or a SIMD variant, see solution_registry.h);
// attention is in attention.h, matmul in matmul.h.
#include <cstdint>

#include "kernels/solution_registry.h"

namespace strata {

// y[r] = x[r] / rms(x[r]) * weight for n_rows rows of `dim`; y may equal x.
// Per-head RMSNorm (Qwen3's q_norm/k_norm) is this with dim = head_dim and
// n_rows = tokens * heads.
void rmsnorm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps);

// A residual add and the next norm in one pass: residual += delta, then
// y = rmsnorm(residual) * weight. Each solution's numbers are its rmsnorm's
// on the summed residual, bit for bit.
void fused_add_rmsnorm(const float* delta, float* residual, const float* weight, float* y, int64_t n_rows, int64_t dim,
                       float eps);

// NeoX-style rotary embedding, in place, on x[n_rows, n_heads, head_dim]:
// the pair (i, i + rotary_dim/2) of each head is rotated by
// positions[row] * theta^(-2i/rotary_dim) for i < rotary_dim/2; dims from
// rotary_dim on pass through (partial RoPE; rotary_dim <= head_dim, even).
// Frequencies are built as llama.cpp does (repeated multiplication by
// theta^(-2/rotary_dim) in f32).
void rope_neox(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
               float theta);

// GPT-J-style (interleaved) rotary embedding, as rope_neox but rotating the
// adjacent pairs (2i, 2i + 1) for i < rotary_dim / 2 (DeepSeek-V3's rope dims).
void rope_gptj(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
               float theta);

// cos and sin of the rotary_dim / 2 rotation angles of `position`, as
// rope_neox and rope_gptj use them (shared by their solutions).
void rope_angles(int32_t position, int64_t rotary_dim, float theta, float* cos_t, float* sin_t);

// In-place numerically stable softmax over n values.
void softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]; out may alias gate or up.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// Greedy sampling: the index of the first largest of n values (NaNs never
// win; 0 when no value exceeds -inf).
int64_t argmax(const float* x, int64_t n);

// Mixture-of-experts router for one token, as vLLM's FusedMoE and llama.cpp's
// build_moe_ffn compute it: scores are softmax(logits) over all experts or
// sigmoid(logits) per expert; experts are selected by score + bias (bias only
// selects), among the topk_group best of n_group groups when grouped, the
// top_k largest with ties to the lower index; their weights are the unbiased
// scores, renormalised to sum to 1 when `normalize`, times `scale`. Writes
// top_k ids and weights, best selection first.
struct RouterParams {
  bool sigmoid = false;
  bool normalize = true;
  float scale = 1.0f;
  int64_t n_group = 1, topk_group = 1;
  const float* bias = nullptr;  // [n_experts] or null
};
void topk_router(const float* logits, int64_t n_experts, int64_t top_k, const RouterParams& params, int32_t* ids,
                 float* weights);

// A MoE layer's output: per token t, out[t] = sum over its top_k choices j of
// weights[t, j] * y[rows[t, j]] (+ shared[t] when given), in choice order,
// each product rounded and then added (no fused multiply-add), so every
// solution gives the same bits and a token's result does not depend on its
// batch. Rows of y are h floats.
void moe_combine(const float* y, const int64_t* rows, const float* weights, int64_t n_tokens, int64_t top_k,
                 int64_t h, const float* shared, float* out);

using RmsNormFn = void (*)(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps);
using FusedAddRmsNormFn = void (*)(const float* delta, float* residual, const float* weight, float* y, int64_t n_rows,
                                   int64_t dim, float eps);
using RopeFn = void (*)(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
                        float theta);
using SoftmaxFn = void (*)(float* x, int64_t n);
using SiluMulFn = void (*)(const float* gate, const float* up, float* out, int64_t n);
using ArgmaxFn = int64_t (*)(const float* x, int64_t n);
using TopkRouterFn = void (*)(const float* logits, int64_t n_experts, int64_t top_k, const RouterParams& params,
                              int32_t* ids, float* weights);
using MoeCombineFn = void (*)(const float* y, const int64_t* rows, const float* weights, int64_t n_tokens,
                              int64_t top_k, int64_t h, const float* shared, float* out);
// Generic in their sizes; the dataset's definitions (kernels/definitions/,
// tagged strata_kernel:<name>) fix the shapes the models use.
inline constexpr KernelDefinition<RmsNormFn> kRmsnorm{"rmsnorm"};
inline constexpr KernelDefinition<FusedAddRmsNormFn> kFusedAddRmsnorm{"fused_add_rmsnorm"};
inline constexpr KernelDefinition<RopeFn> kRopeNeox{"rope_neox"};
inline constexpr KernelDefinition<RopeFn> kRopeGptj{"rope_gptj"};
inline constexpr KernelDefinition<SoftmaxFn> kSoftmax{"softmax"};
inline constexpr KernelDefinition<SiluMulFn> kSiluMul{"silu_mul"};
inline constexpr KernelDefinition<ArgmaxFn> kArgmax{"argmax"};
inline constexpr KernelDefinition<TopkRouterFn> kMoeTopkRouter{"moe_topk_router"};
inline constexpr KernelDefinition<MoeCombineFn> kMoeCombine{"moe_combine"};

// Solutions: the references (ops.cpp) and the AVX-512 variants (ops_avx512.cpp).
void rmsnorm_scalar(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps);
void fused_add_rmsnorm_scalar(const float* delta, float* residual, const float* weight, float* y, int64_t n_rows,
                              int64_t dim, float eps);
void rope_neox_scalar(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
                      float theta);
void rope_gptj_scalar(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
                      float theta);
void softmax_scalar(float* x, int64_t n);
void silu_mul_scalar(const float* gate, const float* up, float* out, int64_t n);
int64_t argmax_scalar(const float* x, int64_t n);
void topk_router_scalar(const float* logits, int64_t n_experts, int64_t top_k, const RouterParams& params, int32_t* ids,
                        float* weights);
void rmsnorm_avx512(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps);
void fused_add_rmsnorm_avx512(const float* delta, float* residual, const float* weight, float* y, int64_t n_rows,
                              int64_t dim, float eps);
void rope_neox_avx512(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
                      float theta);
void rope_gptj_avx512(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, const int32_t* positions,
                      float theta);
void softmax_avx512(float* x, int64_t n);
void silu_mul_avx512(const float* gate, const float* up, float* out, int64_t n);
int64_t argmax_avx512(const float* x, int64_t n);
void moe_combine_scalar(const float* y, const int64_t* rows, const float* weights, int64_t n_tokens, int64_t top_k,
                        int64_t h, const float* shared, float* out);
void moe_combine_avx512(const float* y, const int64_t* rows, const float* weights, int64_t n_tokens, int64_t top_k,
                        int64_t h, const float* shared, float* out);

}  // namespace strata
