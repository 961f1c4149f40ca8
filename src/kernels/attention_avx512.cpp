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
#include <array>
#include <utility>
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

// The sum of a query's tile weights (H vectors of 16 positions) in a fixed
// order: position j's and j + 16's first, then halves of the remaining 16
// lanes folded in three steps. lane_attention adds its vertical vectors in
// the same order, so both give the same bits.
template <int H>
inline float tile_sum(const __m512* wh) {
  __m512 t = wh[0];
  for (int h = 1; h < H; ++h) t = _mm512_add_ps(t, wh[h]);
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(t), _mm512_extractf32x8_ps(t, 1));
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

// For the n (at most kQueries) queries of a group: out[i] = out[i] * corr[i]
// + sum_p w(i, p) * v_p over the tile's first `count` positions, where
// w(i, p) = w[i * w_query + p * w_key]. Each value vector is loaded once for
// the whole group (MLA's 64 heads all read the same latent rows).
template <int N, int NC>
void accumulate_chunk(float* const* out, const float* corr, const float* w, int64_t w_query, int64_t w_key, int count,
                      const float* const* v, int64_t c0, const __mmask16* mask) {
  __m512 acc[N][NC];
  #pragma GCC unroll 4
  for (int i = 0; i < N; ++i)
    #pragma GCC unroll 4
    for (int c = 0; c < NC; ++c)
      acc[i][c] = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask[c], out[i] + c0 + 16 * c), _mm512_set1_ps(corr[i]));
  for (int p = 0; p < count; ++p) {
    const float* vp = v[p] + c0;
    __m512 vv[NC];
    #pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) vv[c] = _mm512_maskz_loadu_ps(mask[c], vp + 16 * c);
    #pragma GCC unroll 4
    for (int i = 0; i < N; ++i) {
      const __m512 wi = _mm512_set1_ps(w[i * w_query + p * w_key]);
      #pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) acc[i][c] = _mm512_fmadd_ps(wi, vv[c], acc[i][c]);
    }
  }
  #pragma GCC unroll 4
  for (int i = 0; i < N; ++i)
    #pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) _mm512_mask_storeu_ps(out[i] + c0 + 16 * c, mask[c], acc[i][c]);
}

// Instances for every query count and chunk count: no run-time bounds in the loops.
template <int N, int... C>
constexpr auto chunk_kernels(std::integer_sequence<int, C...>) {
  return std::array{accumulate_chunk<N, C + 1>...};
}
template <int... N>
constexpr auto all_chunk_kernels(std::integer_sequence<int, N...>) {
  return std::array{chunk_kernels<N + 1>(std::make_integer_sequence<int, 4>{})...};
}

void accumulate_values(float* const* out, const float* corr, const float* w, int64_t w_query, int64_t w_key, int n,
                       int count, const float* const* v, int64_t head_dim) {
  constexpr int kChunks = 4;  // 64 dims at a time: kQueries x kChunks accumulators
  static_assert(kQueries == 4, "all_chunk_kernels instantiates 1..4 queries");
  static constexpr auto kernels = all_chunk_kernels(std::make_integer_sequence<int, kQueries>{});
  for (int64_t c0 = 0; c0 < head_dim; c0 += 16 * kChunks) {
    const int nc = int(std::min<int64_t>(kChunks, (head_dim - c0 + 15) / 16));
    __mmask16 mask[kChunks];
    for (int c = 0; c < nc; ++c) mask[c] = lanes(head_dim - c0 - 16 * c);
    kernels[size_t(n - 1)][size_t(nc - 1)](out, corr, w, w_query, w_key, count, v, c0, mask);
  }
}

// A query's end: its softmax state, if asked for, and its output divided by
// its sum of weights.
inline void finish_query(float* out, int64_t value_dim, float max, float sum, SoftmaxState* state) {
  if (state) *state = {max, sum};
  const __m512 inv = _mm512_set1_ps(sum > 0 ? 1.0f / sum : 0.0f);  // no keys: output 0
  for (int64_t d = 0; d < value_dim; d += 16) {
    const __mmask16 m = lanes(value_dim - d);
    _mm512_mask_storeu_ps(out + d, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, out + d), inv));
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
      alignas(64) float corr[16];
      alignas(64) float w[kQueries][W];
      int count = 0, visible[kQueries] = {};
      alignas(64) float old_max[16] = {}, new_max[16] = {};
      for (int i = 0; i < n; ++i) {
        const int64_t qi = i0 + i;
        outs[i] = output(qi);
        visible[i] = int(std::clamp<int64_t>(keys_end(qi) - p0, 0, tile));
        count = std::max(count, visible[i]);
        __m512 tile_max = _mm512_set1_ps(-INFINITY);
        for (int h = 0; h < H; ++h) tile_max = _mm512_mask_max_ps(tile_max, lanes(visible[i] - 16 * h), tile_max, scores[i][h]);
        old_max[i] = max_buf[size_t(qi)];
        new_max[i] = visible[i] ? std::max(old_max[i], _mm512_reduce_max_ps(tile_max)) : old_max[i];
      }
      // As lane_attention computes them, bit for bit (see there).
      _mm512_store_ps(corr, exp_avx512(_mm512_sub_ps(_mm512_load_ps(old_max), _mm512_load_ps(new_max))));
      for (int i = 0; i < n; ++i) {
        if (visible[i] == 0) {
          corr[i] = 1.0f;
          for (int h = 0; h < H; ++h) _mm512_store_ps(w[i] + 16 * h, _mm512_setzero_ps());
          continue;
        }
        __m512 wh[H];
        for (int h = 0; h < H; ++h) {
          wh[h] = _mm512_maskz_mov_ps(lanes(visible[i] - 16 * h), exp_avx512(_mm512_sub_ps(scores[i][h], _mm512_set1_ps(new_max[i]))));
          _mm512_store_ps(w[i] + 16 * h, wh[h]);
        }
        const int64_t qi = i0 + i;
        max_buf[size_t(qi)] = new_max[i];
        sum_buf[size_t(qi)] = std::fma(sum_buf[size_t(qi)], corr[i], tile_sum<H>(wh));
      }
      if (count > 0) accumulate_values(outs, corr, &w[0][0], W, 1, n, count, values, value_dim);
    }
  }
  for (int64_t i = 0; i < n_q; ++i) finish_query(output(i), value_dim, max_buf[size_t(i)], sum_buf[size_t(i)], state(i));
}

// Queries in lanes, for calls of at least kLaneQueries / 2 queries (a prompt
// block's rows x GQA heads): lane l of a pair of vectors is query i0 + l.
// The queries are transposed once per call into qt[d][32], instead of every
// tile's keys being transposed; a position's 32 scores are then two vectors
// of broadcast FMAs over d, and the online softmax runs across positions
// with vertical operations only: no horizontal max or sum, and one vector
// exp for the 32 corrections. bench_kernels, one KV head's group of 8 heads,
// a 512-token prompt: see the README's attention figures.
//
// Each query's arithmetic is tiled_attention's, operation for operation: the
// same tiles of kWideTile positions from key_begin, scores as fma chains
// over d then scaled, the tile's max, exp_avx512 of the differences, weights
// summed in tile_sum's order, fma(sum, corr, tile sum), and
// accumulate_values. So a query gets the same bits whichever path its call
// takes: a prompt row and the same row decoded alone agree.
constexpr int kLaneQueries = 32;

template <typename Query, typename Output, typename KeysEnd, typename Key, typename Value, typename State>
void lane_attention(int64_t n_q, int64_t key_dim, int64_t value_dim, float scale, int32_t key_begin,
                    const Query& query, const Output& output, const KeysEnd& keys_end, const Key& key,
                    const Value& value, const State& state) {
  constexpr int W = kWideTile, L = kLaneQueries, V = L / 16, KB = 8;  // KB positions scored together
  static_assert(W == 32 && V == 2, "the weight sums below are written for 32-position tiles and 32 lanes");
  thread_local std::vector<float> qt_buf;
  qt_buf.resize(size_t(key_dim * L) + 16);
  float* qt = qt_buf.data() + (16 - (reinterpret_cast<uintptr_t>(qt_buf.data()) / 4) % 16) % 16;  // 64-byte aligned
  alignas(64) float w[W][L];  // the tile's scores, then its weights: [position][query]
  alignas(64) float corr[L];
  alignas(64) int32_t end[L];
  for (int64_t i0 = 0; i0 < n_q; i0 += L) {
    const int nq = int(std::min<int64_t>(L, n_q - i0));
    int32_t group_end = key_begin;
    for (int l = 0; l < L; ++l) {
      end[l] = l < nq ? keys_end(i0 + l) : key_begin;  // padding lanes see nothing
      group_end = std::max(group_end, end[l]);
      const float* q = l < nq ? query(i0 + l) : nullptr;
      for (int64_t d = 0; d < key_dim; ++d) qt[d * L + l] = q ? q[d] : 0.0f;
      if (q) std::fill_n(output(i0 + l), value_dim, 0.0f);
    }
    __m512i end_v[V];
    __m512 m[V], sum[V];
    for (int v = 0; v < V; ++v) {
      end_v[v] = _mm512_load_si512(end + 16 * v);
      m[v] = _mm512_set1_ps(-INFINITY);
      sum[v] = _mm512_setzero_ps();
    }
    for (int32_t p0 = key_begin; p0 < group_end; p0 += W) {
      const int tile = std::min<int32_t>(W, group_end - p0);
      const float* values[W];
      for (int p = 0; p < W; ++p) values[p] = p < tile ? value(p0 + p) : nullptr;
      for (int pb = 0; pb < tile; pb += KB) {
        __m512 acc[KB][V];
        const float* k[KB];
        for (int j = 0; j < KB; ++j) {
          k[j] = key(p0 + std::min(pb + j, tile - 1));  // past the tile: a repeat, never stored
          for (int v = 0; v < V; ++v) acc[j][v] = _mm512_setzero_ps();
        }
        for (int64_t d = 0; d < key_dim; ++d) {
          const __m512 q0 = _mm512_load_ps(qt + d * L), q1 = _mm512_load_ps(qt + d * L + 16);
          #pragma GCC unroll 8
          for (int j = 0; j < KB; ++j) {
            const __m512 kd = _mm512_set1_ps(k[j][d]);
            acc[j][0] = _mm512_fmadd_ps(q0, kd, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(q1, kd, acc[j][1]);
          }
        }
        for (int j = 0; j < KB && pb + j < tile; ++j)
          for (int v = 0; v < V; ++v) _mm512_store_ps(w[pb + j] + 16 * v, _mm512_mul_ps(acc[j][v], _mm512_set1_ps(scale)));
      }
      for (int v = 0; v < V; ++v) {
        // Lanes that see at least one of the tile's positions; their max.
        const __mmask16 any = _mm512_cmpgt_epi32_mask(end_v[v], _mm512_set1_epi32(p0));
        __m512 tile_max = _mm512_set1_ps(-INFINITY);
        for (int p = 0; p < tile; ++p) {
          const __mmask16 sees = _mm512_cmpgt_epi32_mask(end_v[v], _mm512_set1_epi32(p0 + p));
          tile_max = _mm512_mask_max_ps(tile_max, sees, tile_max, _mm512_load_ps(w[p] + 16 * v));
        }
        const __m512 new_m = _mm512_mask_max_ps(m[v], any, m[v], tile_max);
        const __m512 c = _mm512_mask_mov_ps(_mm512_set1_ps(1.0f), any, exp_avx512(_mm512_sub_ps(m[v], new_m)));
        _mm512_store_ps(corr + 16 * v, c);
        __m512 t[16];
        for (int p = 0; p < W; ++p) {
          const __mmask16 sees = p < tile ? _mm512_cmpgt_epi32_mask(end_v[v], _mm512_set1_epi32(p0 + p)) : 0;
          const __m512 wp = _mm512_maskz_mov_ps(sees, exp_avx512(_mm512_sub_ps(_mm512_load_ps(w[p] + 16 * v), new_m)));
          _mm512_store_ps(w[p] + 16 * v, wp);
          t[p % 16] = p < 16 ? wp : _mm512_add_ps(t[p % 16], wp);
        }
        for (int half = 8; half >= 1; half /= 2)  // tile_sum's folds
          for (int j = 0; j < half; ++j) t[j] = _mm512_add_ps(t[j], t[j + half]);
        sum[v] = _mm512_mask_fmadd_ps(sum[v], any, c, t[0]);
        m[v] = new_m;
      }
      for (int g = 0; g < nq; g += kQueries) {
        const int n = std::min(kQueries, nq - g);
        float* outs[kQueries];
        int count = 0;
        for (int i = 0; i < n; ++i) {
          outs[i] = output(i0 + g + i);
          count = std::max(count, std::clamp(end[g + i] - p0, 0, tile));
        }
        if (count > 0) accumulate_values(outs, corr + g, &w[0][g], 1, L, n, count, values, value_dim);
      }
    }
    alignas(64) float max_out[L], sum_out[L];
    for (int v = 0; v < V; ++v) {
      _mm512_store_ps(max_out + 16 * v, m[v]);
      _mm512_store_ps(sum_out + 16 * v, sum[v]);
    }
    for (int l = 0; l < nq; ++l) finish_query(output(i0 + l), value_dim, max_out[l], sum_out[l], state(i0 + l));
  }
}

}  // namespace

void attention_avx512(const AttentionArgs& a) {
  const int64_t hd = a.head_dim;
  const int64_t n_q = a.n_rows * a.n_heads;
  auto query = [&](int64_t i) { return a.q + (i / a.n_heads) * a.row_stride + (i % a.n_heads) * hd; };
  auto output = [&](int64_t i) { return a.out + (i / a.n_heads) * a.row_stride + (i % a.n_heads) * hd; };
  auto keys_end = [&](int64_t i) { return a.keys_end(i / a.n_heads); };
  auto key = [&](int64_t p) { return a.key(p); };
  auto value = [&](int64_t p) { return a.value(p); };
  auto state = [&](int64_t i) {
    return a.states ? a.states + (i / a.n_heads) * a.state_row_stride + i % a.n_heads : nullptr;
  };
  if (n_q >= kLaneQueries / 2) {
    return lane_attention(n_q, hd, hd, a.scale, a.key_begin, query, output, keys_end, key, value, state);
  }
  int32_t max_end = 0;
  for (int64_t r = 0; r < a.n_rows; ++r) max_end = std::max(max_end, a.keys_end(r));
  tiled_attention<kWideTile>(n_q, hd, hd, a.scale, a.key_begin, max_end, query, output, keys_end, key, value, state);
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
