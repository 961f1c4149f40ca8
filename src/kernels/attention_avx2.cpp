// AVX2 attention (GQA, and MLA's latent rows): the plan of
// attention_avx512.cpp with 8-lane vectors. Positions go in tiles of 16:
// the tile's keys are transposed once into kt[key_dim][16], so a query's 16
// scores are two vectors of broadcast-FMAs, and every query of the block
// (rows x GQA heads) uses the tile. Softmax is online: each query keeps its
// running max m and sum l and rescales its output when m grows; a split-KV
// chunk hands (m, l) to the merge.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/exp_avx2.h"
#include "kernels/mla_attention.h"

namespace strata {
namespace {

constexpr int kTile = 16;           // positions per tile
constexpr int kH = kTile / 8;       // score vectors per query
constexpr int kQueries = 4;         // queries scored together: independent FMA chains
constexpr int kChunks = 2;          // value dims summed at a time: 8 each

// All-ones in lanes [0, n) (n clamped to 0..8), for maskload/maskstore/and.
inline __m256i lanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::clamp<int64_t>(n, 0, 8))),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// scores[i][h] = (q_i · k_p) * scale for the tile's positions 8h..8h+7,
// from kt[d][p].
void score_tile(const float* const* q, const float* kt, int64_t key_dim, float scale, __m256 (*scores)[kH]) {
  __m256 acc[kQueries][kH];
  #pragma GCC unroll 4
  for (int i = 0; i < kQueries; ++i)
    #pragma GCC unroll 2
    for (int h = 0; h < kH; ++h) acc[i][h] = _mm256_setzero_ps();
  for (int64_t d = 0; d < key_dim; ++d) {
    __m256 k[kH];
    #pragma GCC unroll 2
    for (int h = 0; h < kH; ++h) k[h] = _mm256_load_ps(kt + d * kTile + 8 * h);
    #pragma GCC unroll 4
    for (int i = 0; i < kQueries; ++i) {
      const __m256 qd = _mm256_broadcast_ss(q[i] + d);
      #pragma GCC unroll 2
      for (int h = 0; h < kH; ++h) acc[i][h] = _mm256_fmadd_ps(qd, k[h], acc[i][h]);
    }
  }
  #pragma GCC unroll 4
  for (int i = 0; i < kQueries; ++i)
    #pragma GCC unroll 2
    for (int h = 0; h < kH; ++h) scores[i][h] = _mm256_mul_ps(acc[i][h], _mm256_set1_ps(scale));
}

// For the n (at most kQueries) queries of a group: out[i] = out[i] * corr[i]
// + sum_p w[i][p] * v_p over the tile's first `count` positions, each value
// vector loaded once for the group.
void accumulate_values(float* const* out, const float* corr, const float (*w)[kTile], int n, int count,
                       const float* const* v, int64_t value_dim) {
  for (int64_t c0 = 0; c0 < value_dim; c0 += 8 * kChunks) {
    __m256i mask[kChunks];
    #pragma GCC unroll 2
    for (int c = 0; c < kChunks; ++c) mask[c] = lanes(value_dim - c0 - 8 * c);
    __m256 acc[kQueries][kChunks];
    #pragma GCC unroll 4
    for (int i = 0; i < kQueries; ++i)
      #pragma GCC unroll 2
      for (int c = 0; c < kChunks; ++c)
        acc[i][c] = i < n ? _mm256_mul_ps(_mm256_maskload_ps(out[i] + c0 + 8 * c, mask[c]), _mm256_set1_ps(corr[i]))
                          : _mm256_setzero_ps();
    for (int p = 0; p < count; ++p) {
      __m256 vv[kChunks];
      #pragma GCC unroll 2
      for (int c = 0; c < kChunks; ++c) vv[c] = _mm256_maskload_ps(v[p] + c0 + 8 * c, mask[c]);
      #pragma GCC unroll 4
      for (int i = 0; i < kQueries; ++i) {
        if (i >= n) break;
        const __m256 wi = _mm256_broadcast_ss(w[i] + p);
        #pragma GCC unroll 2
        for (int c = 0; c < kChunks; ++c) acc[i][c] = _mm256_fmadd_ps(wi, vv[c], acc[i][c]);
      }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < kQueries; ++i) {
      if (i >= n) break;
      #pragma GCC unroll 2
      for (int c = 0; c < kChunks; ++c) _mm256_maskstore_ps(out[i] + c0 + 8 * c, mask[c], acc[i][c]);
    }
  }
}

// The tiled online-softmax loop over n_q queries, each scoring key_dim
// floats and summing the first value_dim floats of its value rows, over
// positions [key_begin, keys_end(i)) (keys_end(i) <= max_end): query(i),
// output(i), key(p), value(p); state(i) is where query i's softmax state goes
// (null: nowhere).
template <typename Query, typename Output, typename KeysEnd, typename Key, typename Value, typename State>
void tiled_attention(int64_t n_q, int64_t key_dim, int64_t value_dim, float scale, int32_t key_begin, int32_t max_end,
                     const Query& query, const Output& output, const KeysEnd& keys_end, const Key& key,
                     const Value& value, const State& state) {
  thread_local std::vector<float> kt_buf;
  thread_local std::vector<float> max_buf, sum_buf;
  kt_buf.resize(size_t(key_dim * kTile) + 8);
  max_buf.assign(size_t(n_q), -INFINITY);
  sum_buf.assign(size_t(n_q), 0.0f);
  float* kt = kt_buf.data() + (8 - (reinterpret_cast<uintptr_t>(kt_buf.data()) / 4) % 8) % 8;  // 32-byte aligned
  for (int64_t i = 0; i < n_q; ++i) std::fill_n(output(i), value_dim, 0.0f);

  for (int32_t p0 = key_begin; p0 < max_end; p0 += kTile) {
    const int tile = std::min<int32_t>(kTile, max_end - p0);
    const float* values[kTile];
    for (int p = 0; p < kTile; ++p) {
      const float* k = p < tile ? key(p0 + p) : nullptr;
      values[p] = p < tile ? value(p0 + p) : nullptr;
      for (int64_t d = 0; d < key_dim; ++d) kt[d * kTile + p] = k ? k[d] : 0.0f;
    }
    for (int64_t i0 = 0; i0 < n_q; i0 += kQueries) {
      const float* q[kQueries];
      for (int i = 0; i < kQueries; ++i) q[i] = query(std::min(i0 + i, n_q - 1));
      __m256 scores[kQueries][kH];
      score_tile(q, kt, key_dim, scale, scores);
      // A query that sees none of the tile keeps its output (weights 0, corr 1).
      const int n = int(std::min<int64_t>(kQueries, n_q - i0));
      float* outs[kQueries];
      float corr[kQueries];
      alignas(32) float w[kQueries][kTile];
      int count = 0;
      for (int i = 0; i < n; ++i) {
        const int64_t qi = i0 + i;
        outs[i] = output(qi);
        const int visible = int(std::clamp<int64_t>(keys_end(qi) - p0, 0, tile));
        count = std::max(count, visible);
        if (visible == 0) {
          corr[i] = 1.0f;
          std::fill_n(w[i], kTile, 0.0f);
          continue;
        }
        __m256 m[kH];
        __m256 tile_max = _mm256_set1_ps(-INFINITY);
        for (int h = 0; h < kH; ++h) {
          m[h] = _mm256_castsi256_ps(lanes(visible - 8 * h));
          tile_max = _mm256_max_ps(tile_max, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), scores[i][h], m[h]));
        }
        const float old_max = max_buf[size_t(qi)], new_max = std::max(old_max, hmax(tile_max));
        corr[i] = std::exp(old_max - new_max);  // 0 on the first tile
        __m256 total = _mm256_setzero_ps();
        for (int h = 0; h < kH; ++h) {
          const __m256 wh = _mm256_and_ps(m[h], exp_avx2(_mm256_sub_ps(scores[i][h], _mm256_set1_ps(new_max))));
          total = _mm256_add_ps(total, wh);
          _mm256_store_ps(w[i] + 8 * h, wh);
        }
        max_buf[size_t(qi)] = new_max;
        sum_buf[size_t(qi)] = sum_buf[size_t(qi)] * corr[i] + hsum(total);
      }
      if (count > 0) accumulate_values(outs, corr, w, n, count, values, value_dim);
    }
  }
  for (int64_t i = 0; i < n_q; ++i) {
    const float sum = sum_buf[size_t(i)];
    if (SoftmaxState* s = state(i)) *s = {max_buf[size_t(i)], sum};
    const __m256 inv = _mm256_set1_ps(sum > 0 ? 1.0f / sum : 0.0f);  // no keys: output 0
    float* o = output(i);
    for (int64_t d = 0; d < value_dim; d += 8) {
      const __m256i m = lanes(value_dim - d);
      _mm256_maskstore_ps(o + d, m, _mm256_mul_ps(_mm256_maskload_ps(o + d, m), inv));
    }
  }
}

}  // namespace

void attention_avx2(const AttentionArgs& a) {
  const int64_t hd = a.head_dim;
  int32_t max_end = 0;
  for (int64_t r = 0; r < a.n_rows; ++r) max_end = std::max(max_end, a.keys_end(r));
  tiled_attention(
      a.n_rows * a.n_heads, hd, hd, a.scale, a.key_begin, max_end,
      [&](int64_t i) { return a.q + (i / a.n_heads) * a.row_stride + (i % a.n_heads) * hd; },
      [&](int64_t i) { return a.out + (i / a.n_heads) * a.row_stride + (i % a.n_heads) * hd; },
      [&](int64_t i) { return a.keys_end(i / a.n_heads); }, [&](int64_t p) { return a.key(p); },
      [&](int64_t p) { return a.value(p); },
      [&](int64_t i) {
        return a.states ? a.states + (i / a.n_heads) * a.state_row_stride + i % a.n_heads : nullptr;
      });
}

void mla_attention_avx2(const MlaAttentionArgs& a) {
  const int64_t width = a.kv_lora_rank + a.rope_dim;
  tiled_attention(
      a.n_heads, width, a.kv_lora_rank, a.scale, a.key_begin, a.key_end, [&](int64_t i) { return a.q + i * width; },
      [&](int64_t i) { return a.out + i * a.kv_lora_rank; }, [&](int64_t) { return a.key_end; },
      [&](int64_t p) { return a.row(p); }, [&](int64_t p) { return a.row(p); },
      [&](int64_t i) { return a.states ? a.states + i : nullptr; });
}

}  // namespace strata
