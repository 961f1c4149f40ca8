#pragma once
// Attention of multi-head latent attention (DeepSeek-V2/V3) in its absorbed
// form, over a paged cache that holds one latent row per position:
// [c (kv_lora_rank, normalised) | k_pe (rope_dim, roped)]. Every query head
// of a token reads the same rows (MQA with keys kv_lora_rank + rope_dim wide
// and values the first kv_lora_rank floats of the same row):
//   out[h] = sum_p softmax_p(scale * q[h] . row_p) * c_p
// where q[h] = [W_UK[h]^T q_nope[h] | q_pe[h]]; the caller applies W_UV.
// f32 throughout. A call covers a range of positions, the whole causal one
// or a split-KV chunk whose outputs and softmax states attention_merge.h
// merges. The kernel definition "mla_paged_attention" (its shapes in the
// dataset: kernels/definitions/mla_paged/).
#include <cstdint>

#include "kernels/attention_merge.h"
#include "kernels/solution_registry.h"

namespace strata {

struct MlaAttentionArgs {
  int64_t kv_lora_rank, rope_dim;
  int64_t n_heads;  // query heads of this token
  // Head j's query is q + j * (kv_lora_rank + rope_dim); its output (in the
  // latent space) goes to out + j * kv_lora_rank.
  const float* q;
  float* out;
  // Cached positions [key_begin, key_end) are read (causal decode of
  // position p: [0, p + 1)); outputs are normalised over them.
  int32_t key_begin, key_end;
  // Paged latent rows (model/kv_cache.h): position p's row starts at
  // base + block_table[p / block_size] * block_stride + (p % block_size) * row_stride.
  const float* base;
  const int32_t* block_table;
  int32_t block_size;
  int64_t block_stride, row_stride;
  float scale;
  SoftmaxState* states = nullptr;  // optional: head j's softmax state goes to states[j]

  const float* row(int64_t p) const {
    return base + block_table[p / block_size] * block_stride + (p % block_size) * row_stride;
  }
};

using MlaAttentionFn = void (*)(const MlaAttentionArgs& args);
inline constexpr KernelDefinition<MlaAttentionFn> kMlaPagedAttention{"mla_paged_attention"};

// The definition's dispatch point: the selected solution, on the calling thread.
void mla_attention(const MlaAttentionArgs& args);

// The reference: each cached row is read once for all heads (scores), then a
// two-pass softmax per head, then the weighted sum of the latents.
void mla_attention_scalar(const MlaAttentionArgs& args);
// The tiled online-softmax loop of attention_avx512, keys the whole row wide
// and values its latent part (attention_avx512.cpp).
void mla_attention_avx512(const MlaAttentionArgs& args);
// The same with attention_avx2's loop (attention_avx2.cpp).
void mla_attention_avx2(const MlaAttentionArgs& args);

}  // namespace strata
