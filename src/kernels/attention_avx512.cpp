// AVX-512 attention (GQA, and MLA's latent rows). Positions go in tiles of
// W = 16 or 32: the tile's keys are transposed once into kt[head_dim][W] so
// that a query's W scores are W/16 vectors of broadcast-FMAs (no horizontal
// sums), then every query of the block (rows x GQA heads) uses the tile. Softmax is online: each query keeps
// its running max m and sum l and rescales its output when m grows; a
// split-KV chunk hands (m, l) to the merge.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its
// own flow analysis then reports as uninitialised: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/mla_attention.h"
#include "kernels/exp_avx512.h"

namespace strata {
namespace {

constexpr int kTile = 16;  // positions per tile: one zmm of scores
// GQA's tile: its keys (head_dim 128: 16 KB transposed) stay in L1 at twice
// the width; MLA's 576-float latent rows keep kTile. bench_kernels, one KV
// head's group: a 512-token prompt 1.33x and a 4096-token decode 1.14x faster.
constexpr int kWideTile = 32;
constexpr int kQueries = 4;  // queries scored together: independent FMA chains

inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }

// scores[i][h] = (q_i · k_p) * scale for the tile's positions 16h..16h+15,
// from kt[d][p] (W positions per row).
template <int W>
void score_tile(const float* const* q, const float* kt, int64_t head_dim, float scale, __m512 (*scores)[W / 16]) {
  constexpr int H = W / 16;
  __m512 acc[kQueries][H];
  for (int i = 0; i < kQueries; ++i)
    for (int h = 0; h < H; ++h) acc[i][h] = _mm512_setzero_ps();
  for (int64_t d = 0; d < head_dim; ++d) {
    __m512 k[H];
    #pragma GCC unroll 2
    for (int h = 0; h < H; ++h) k[h] = _mm512_load_ps(kt + d * W + 16 * h);
    #pragma GCC unroll 4
    for (int i = 0; i < kQueries; ++i) {
      const __m512 qd = _mm512_set1_ps(q[i][d]);
      #pragma GCC unroll 2
      for (int h = 0; h < H; ++h) acc[i][h] = _mm512_fmadd_ps(qd, k[h], acc[i][h]);
    }
  }
  for (int i = 0; i < kQueries; ++i)
    for (int h = 0; h < H; ++h) scores[i][h] = _mm512_mul_ps(acc[i][h], _mm512_set1_ps(scale));
}

// For the n (at most kQueries) queries of a group: out[i] = out[i] * corr[i]
// + sum_p w[i][p] * v_p over the tile's first `count` positions. Each value
// vector is loaded once for the whole group (MLA's 64 heads all read the
// same latent rows).
template <int W>
void accumulate_values(float* const* out, const float* corr, const float (*w)[W], int n, int count,
                       const float* const* v, int64_t head_dim) {
  constexpr int kChunks = 4;  // 64 dims at a time: kQueries x kChunks accumulators
  for (int64_t c0 = 0; c0 < head_dim; c0 += 16 * kChunks) {
    const int nc = int(std::min<int64_t>(kChunks, (head_dim - c0 + 15) / 16));
    __m512 acc[kQueries][kChunks];
    __mmask16 mask[kChunks];
    #pragma GCC unroll 4
    for (int c = 0; c < kChunks; ++c) {
      if (c >= nc) break;
      mask[c] = lanes(head_dim - c0 - 16 * c);
    }
    #pragma GCC unroll 4
    for (int i = 0; i < kQueries; ++i) {
      if (i >= n) break;
      #pragma GCC unroll 4
      for (int c = 0; c < kChunks; ++c) {
        if (c >= nc) break;
        acc[i][c] = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask[c], out[i] + c0 + 16 * c), _mm512_set1_ps(corr[i]));
      }
    }
    for (int p = 0; p < count; ++p) {
      const float* vp = v[p] + c0;
      __m512 vv[kChunks];
      #pragma GCC unroll 4
      for (int c = 0; c < kChunks; ++c) {
        if (c >= nc) break;
        vv[c] = _mm512_maskz_loadu_ps(mask[c], vp + 16 * c);
      }
      #pragma GCC unroll 4
      for (int i = 0; i < kQueries; ++i) {
        if (i >= n) break;
        const __m512 wi = _mm512_set1_ps(w[i][p]);
        #pragma GCC unroll 4
        for (int c = 0; c < kChunks; ++c) {
          if (c >= nc) break;
          acc[i][c] = _mm512_fmadd_ps(wi, vv[c], acc[i][c]);
        }
      }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < kQueries; ++i) {
      if (i >= n) break;
      #pragma GCC unroll 4
      for (int c = 0; c < kChunks; ++c) {
        if (c >= nc) break;
        _mm512_mask_storeu_ps(out[i] + c0 + 16 * c, mask[c], acc[i][c]);
      }
    }
  }
}

// The tiled online-softmax loop over n_q queries, each scoring key_dim
// floats and summing the first value_dim floats of its value rows, over
// positions [key_begin, keys_end(i)) (keys_end(i) <= max_end) in tiles of W
// (16 or 32): query(i), output(i), key(p), value(p); state(i) is where
// query i's softmax state goes (null: nowhere). A wider tile pays the
// per-tile costs (the running max's exp, the rescaling of the output) once
// per 32 keys; its transposed keys take W x key_dim floats of L1.
template <int W, typename Query, typename Output, typename KeysEnd, typename Key, typename Value, typename State>
void tiled_attention(int64_t n_q, int64_t key_dim, int64_t value_dim, float scale, int32_t key_begin, int32_t max_end,
                     const Query& query, const Output& output, const KeysEnd& keys_end, const Key& key,
                     const Value& value, const State& state) {
  constexpr int H = W / 16;
  thread_local std::vector<float> kt_buf;
  thread_local std::vector<float> max_buf, sum_buf;
  kt_buf.resize(size_t(key_dim * W) + 16);
  max_buf.assign(size_t(n_q), -INFINITY);
  sum_buf.assign(size_t(n_q), 0.0f);
  float* kt = kt_buf.data() + (16 - (reinterpret_cast<uintptr_t>(kt_buf.data()) / 4) % 16) % 16;  // 64-byte aligned
  for (int64_t i = 0; i < n_q; ++i) std::fill_n(output(i), value_dim, 0.0f);

  for (int32_t p0 = key_begin; p0 < max_end; p0 += W) {
    const int tile = std::min<int32_t>(W, max_end - p0);
    const float* values[W];  // the tile's value rows, addressed once per tile
    for (int p = 0; p < W; ++p) {
      const float* k = p < tile ? key(p0 + p) : nullptr;
      values[p] = p < tile ? value(p0 + p) : nullptr;
      for (int64_t d = 0; d < key_dim; ++d) kt[d * W + p] = k ? k[d] : 0.0f;
    }
    for (int64_t i0 = 0; i0 < n_q; i0 += kQueries) {
      const float* q[kQueries];
      for (int i = 0; i < kQueries; ++i) q[i] = query(std::min(i0 + i, n_q - 1));
      __m512 scores[kQueries][H];
      score_tile<W>(q, kt, key_dim, scale, scores);
      // A query that sees none of the tile keeps its output (weights 0, corr 1).
      const int n = int(std::min<int64_t>(kQueries, n_q - i0));
      float* outs[kQueries];
      float corr[kQueries];
      alignas(64) float w[kQueries][W];
      int count = 0;
      for (int i = 0; i < n; ++i) {
        const int64_t qi = i0 + i;
        outs[i] = output(qi);
        const int visible = int(std::clamp<int64_t>(keys_end(qi) - p0, 0, tile));
        count = std::max(count, visible);
        if (visible == 0) {
          corr[i] = 1.0f;
          for (int h = 0; h < H; ++h) _mm512_store_ps(w[i] + 16 * h, _mm512_setzero_ps());
          continue;
        }
        __mmask16 m[H];
        __m512 tile_max = _mm512_set1_ps(-INFINITY);
        for (int h = 0; h < H; ++h) {
          m[h] = lanes(visible - 16 * h);
          tile_max = _mm512_mask_max_ps(tile_max, m[h], tile_max, scores[i][h]);
        }
        const float old_max = max_buf[size_t(qi)], new_max = std::max(old_max, _mm512_reduce_max_ps(tile_max));
        corr[i] = std::exp(old_max - new_max);  // 0 on the first tile
        __m512 total = _mm512_setzero_ps();
        for (int h = 0; h < H; ++h) {
          const __m512 wh = _mm512_maskz_mov_ps(m[h], exp_avx512(_mm512_sub_ps(scores[i][h], _mm512_set1_ps(new_max))));
          total = _mm512_add_ps(total, wh);
          _mm512_store_ps(w[i] + 16 * h, wh);
        }
        max_buf[size_t(qi)] = new_max;
        sum_buf[size_t(qi)] = sum_buf[size_t(qi)] * corr[i] + _mm512_reduce_add_ps(total);
      }
      if (count > 0) accumulate_values<W>(outs, corr, w, n, count, values, value_dim);
    }
  }
  for (int64_t i = 0; i < n_q; ++i) {
    const float sum = sum_buf[size_t(i)];
    if (SoftmaxState* s = state(i)) *s = {max_buf[size_t(i)], sum};
    const __m512 inv = _mm512_set1_ps(sum > 0 ? 1.0f / sum : 0.0f);  // no keys: output 0
    float* o = output(i);
    for (int64_t d = 0; d < value_dim; d += 16) {
      const __mmask16 m = lanes(value_dim - d);
      _mm512_mask_storeu_ps(o + d, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o + d), inv));
    }
  }
}

}  // namespace

void attention_avx512(const AttentionArgs& a) {
  const int64_t hd = a.head_dim;
  int32_t max_end = 0;
  for (int64_t r = 0; r < a.n_rows; ++r) max_end = std::max(max_end, a.keys_end(r));
  tiled_attention<kWideTile>(
      a.n_rows * a.n_heads, hd, hd, a.scale, a.key_begin, max_end,
      [&](int64_t i) { return a.q + (i / a.n_heads) * a.row_stride + (i % a.n_heads) * hd; },
      [&](int64_t i) { return a.out + (i / a.n_heads) * a.row_stride + (i % a.n_heads) * hd; },
      [&](int64_t i) { return a.keys_end(i / a.n_heads); }, [&](int64_t p) { return a.key(p); },
      [&](int64_t p) { return a.value(p); },
      [&](int64_t i) {
        return a.states ? a.states + (i / a.n_heads) * a.state_row_stride + i % a.n_heads : nullptr;
      });
}

// MLA: every head scores the whole latent row and sums its latent part.
void mla_attention_avx512(const MlaAttentionArgs& a) {
  const int64_t width = a.kv_lora_rank + a.rope_dim;
  tiled_attention<kTile>(
      a.n_heads, width, a.kv_lora_rank, a.scale, a.key_begin, a.key_end, [&](int64_t i) { return a.q + i * width; },
      [&](int64_t i) { return a.out + i * a.kv_lora_rank; }, [&](int64_t) { return a.key_end; },
      [&](int64_t p) { return a.row(p); }, [&](int64_t p) { return a.row(p); },
      [&](int64_t i) { return a.states ? a.states + i : nullptr; });
}

}  // namespace strata
