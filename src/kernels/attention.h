#pragma once
// Causal GQA attention for a block of query rows of one sequence against one
// KV head: every query head of the GQA group, for every row of the block,
// reads the same cached keys and values, so the SIMD variant loads each
// cached K/V row once per block rather than once per (row, head).
// out = softmax(q·K^T * scale) V per query, f32 throughout. A call covers a
// range of keys, the whole causal one or a split-KV chunk whose outputs and
// softmax states attention_merge.h merges. The kernel definition
// "gqa_paged_attention" (its shapes in the dataset: kernels/definitions/gqa_paged/).
#include <climits>
#include <cstdint>

#include "kernels/attention_merge.h"
#include "kernels/solution_registry.h"

namespace strata {

struct AttentionArgs {
  int64_t head_dim;
  int64_t n_rows;   // query rows (tokens) in the block
  int64_t n_heads;  // query heads sharing the KV head
  // Query (row r, head j) is q + r * row_stride + j * head_dim; its output
  // goes to the same place in out.
  const float* q;
  float* out;
  int64_t row_stride;
  // Row r sees cached positions [0, n_keys[r]) (at least 1).
  const int32_t* n_keys;
  // Paged KV (model/kv_cache.h): position p's key row starts at
  // k_base + block_table[p / block_size] * block_stride + (p % block_size) * kv_row_stride,
  // its value at the same offset from v_base.
  const float* k_base;
  const float* v_base;
  const int32_t* block_table;
  int32_t block_size;
  int64_t block_stride, kv_row_stride;
  float scale;
  // The keys this call reads: row r attends to positions
  // [key_begin, min(key_end, n_keys[r])), normalised over them; a row with
  // none gets output 0. The default is the whole causal range.
  int32_t key_begin = 0, key_end = INT32_MAX;
  // Optional: query (r, j)'s softmax state goes to states[r * state_row_stride + j].
  SoftmaxState* states = nullptr;
  int64_t state_row_stride = 0;

  int32_t keys_end(int64_t r) const { return n_keys[r] < key_end ? n_keys[r] : key_end; }
  int64_t kv_row(int64_t p) const {
    return block_table[p / block_size] * block_stride + (p % block_size) * kv_row_stride;
  }
  const float* key(int64_t p) const { return k_base + kv_row(p); }
  const float* value(int64_t p) const { return v_base + kv_row(p); }
};

using AttentionFn = void (*)(const AttentionArgs& args);
inline constexpr KernelDefinition<AttentionFn> kGqaPagedAttention{"gqa_paged_attention"};

// The definition's dispatch point: the selected solution, on the calling thread.
void attention(const AttentionArgs& args);

// Solutions. The reference: per query, scores, a two-pass softmax, then the weighted sum.
void attention_scalar(const AttentionArgs& args);
// Tiles of 32 positions with an online softmax (attention_avx512.cpp).
void attention_avx512(const AttentionArgs& args);
// The same plan with 8-lane vectors and tiles of 16 (attention_avx2.cpp).
void attention_avx2(const AttentionArgs& args);

}  // namespace strata
