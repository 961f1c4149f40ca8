// AVX-512 solutions of gemm_w4a16_g32 over the Int4Matrix layout. A zmm holds
// one 16-row tile: lane r is row r, so no horizontal sums are needed and the
// tile's 16 scales are one load.
//   exact: a 64-byte chunk gives 8 columns; shifting it by 8b (+4) puts
//          column b's (or b+4's) nibble in the low bits of every lane, and
//          vpermps with a table of -8..7 turns those 4 bits into (q - 8) as
//          f32 (vpermps reads only the low 4 index bits, so no mask is needed).
//   w4a8:  the chunk's low and high nibbles (masked) are 16 rows x 4 unsigned
//          bytes; vpdpbusd multiplies them with 4 int8 activations at once.
// Each kernel instance handles T tokens x NT tiles so that enough independent
// accumulator chains hide the FMA latency when T is small (decode).
// A w4a8 GEMM of many tokens first unpacks a few tiles into a panel
// (nibbles split into bytes, scales widened to f32) that every token block
// then reads: the unpacking's shift and masks run on the same two ports as
// vpdpbusd, so paying them once per tile instead of once per token block
// leaves those ports to the dot products.
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "kernels/gemv_prefetch.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"

namespace strata {
namespace {

constexpr int kTile = Int4Matrix::kTileRows, kGroup = Int4Matrix::kGroup;
// Tiles handled as one unit of work so their blocks stay in cache while all
// token blocks pass over them.
constexpr int64_t kCacheTiles = 4;
template <Int4ScaleType S>
inline __m512 load_scales(const uint8_t* block) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
  if constexpr (S == Int4ScaleType::F16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

inline __mmask16 row_mask(const Int4Matrix& w, int64_t tile) {
  const int64_t left = w.rows() - tile * kTile;
  return left >= kTile ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

// y[t][tile rows] for T tokens starting at x (row stride ldx) and NT tiles
// starting at `tile`. Dot products per group run in two chains (even and odd
// columns), then are scaled into the row accumulators.
template <Int4ScaleType S, int T, int NT>
void exact_kernel(const Int4Matrix& w, int64_t tile, const float* x, int64_t ldx, float* y, int64_t ldy) {
  const __m512 table = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
  __m512 acc[NT][T];
  #pragma GCC unroll 8
  for (int i = 0; i < NT; ++i)
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_setzero_ps();
  for (int64_t g = 0; g < w.groups(); ++g) {
    __m512 even[NT][T], odd[NT][T];
    #pragma GCC unroll 8
    for (int i = 0; i < NT; ++i)
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) even[i][t] = odd[i][t] = _mm512_setzero_ps();
    const float* xg = x + g * kGroup;
    #pragma GCC unroll 4
    for (int k = 0; k < Int4Matrix::kChunks; ++k) {
      #pragma GCC unroll 8
      for (int i = 0; i < NT; ++i) {
        const __m512i v = _mm512_loadu_si512(w.block(tile + i, g) + Int4Matrix::kScaleBytes + 64 * k);
        #pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
          const int shift = 8 * (j % 4) + 4 * (j / 4);
          const __m512 wv = _mm512_permutexvar_ps(shift ? _mm512_srli_epi32(v, shift) : v, table);
          #pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            const __m512 xv = _mm512_set1_ps(xg[t * ldx + 8 * k + j]);
            if (j % 2 == 0) even[i][t] = _mm512_fmadd_ps(xv, wv, even[i][t]);
            else odd[i][t] = _mm512_fmadd_ps(xv, wv, odd[i][t]);
          }
        }
      }
    }
    #pragma GCC unroll 8
    for (int i = 0; i < NT; ++i) {
      const __m512 scale = load_scales<S>(w.block(tile + i, g));
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) acc[i][t] = _mm512_fmadd_ps(_mm512_add_ps(even[i][t], odd[i][t]), scale, acc[i][t]);
    }
  }
  #pragma GCC unroll 8
  for (int i = 0; i < NT; ++i)
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy + (tile + i) * kTile, row_mask(w, tile + i), acc[i][t]);
}


// The panel of one tile-group: 16 f32 scales, then per chunk its low and its
// high nibbles as bytes (64 + 64).
constexpr size_t kPanelBlockBytes = 64 + Int4Matrix::kChunks * 128;

template <Int4ScaleType S>
void unpack_panel(const Int4Matrix& w, int64_t tile_begin, int64_t tile_end, uint8_t* panel) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
    for (int64_t g = 0; g < w.groups(); ++g) {
      const uint8_t* block = w.block(tile, g);
      uint8_t* out = panel + size_t((tile - tile_begin) * w.groups() + g) * kPanelBlockBytes;
      _mm512_storeu_ps(out, load_scales<S>(block));
      for (int k = 0; k < Int4Matrix::kChunks; ++k) {
        const __m512i v = _mm512_loadu_si512(block + Int4Matrix::kScaleBytes + 64 * k);
        _mm512_storeu_si512(out + 64 + 128 * k, _mm512_and_si512(v, low4));
        _mm512_storeu_si512(out + 128 + 128 * k, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
      }
    }
  }
}

// A block of T tokens' quantized activations, laid out for
// w4a8_block_kernel: per group, T int32 offsets -8 * sum(xq) (the nibbles
// are q + 8), T f32 scales d, then per chunk k and token t the 8 bytes
// xq[8k .. 8k + 8). Every load then sits at a fixed offset from one pointer.
constexpr size_t token_group_bytes(int T) { return size_t(T) * (4 + 4 + kGroup); }

void pack_token_block(const QuantizedActivations& x, int T, uint8_t* out) {
  for (int64_t g = 0; g < x.groups; ++g, out += token_group_bytes(T)) {
    for (int t = 0; t < T; ++t) {
      const int32_t offset = -8 * x.qsum[t * x.groups + g];
      std::memcpy(out + 4 * t, &offset, 4);
      std::memcpy(out + 4 * (T + t), &x.d[t * x.groups + g], 4);
      for (int k = 0; k < Int4Matrix::kChunks; ++k)
        std::memcpy(out + 8 * T + 8 * (k * T + t), x.q + t * x.cols + g * kGroup + 8 * k, 8);
    }
  }
}

// Where a token-block kernel reads a tile-group's weights: straight from the
// Int4Matrix, splitting the nibbles in registers, or from a panel.
template <Int4ScaleType S>
struct MatrixTiles {
  static constexpr size_t kBlockBytes = Int4Matrix::kBlockBytes;
  static void nibbles(const uint8_t* block, int k, __m512i& lo, __m512i& hi) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i v = _mm512_loadu_si512(block + Int4Matrix::kScaleBytes + 64 * k);
    lo = _mm512_and_si512(v, low4);
    hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
  }
  static __m512 scales(const uint8_t* block) { return load_scales<S>(block); }
};
struct PanelTiles {
  static constexpr size_t kBlockBytes = kPanelBlockBytes;
  static void nibbles(const uint8_t* block, int k, __m512i& lo, __m512i& hi) {
    lo = _mm512_loadu_si512(block + 64 + 128 * k);
    hi = _mm512_loadu_si512(block + 128 + 128 * k);
  }
  static __m512 scales(const uint8_t* block) { return _mm512_loadu_ps(block); }
};

// y for a packed block of T tokens and NT tiles (the first tile's group-0
// block at `first`, each next tile `tile_bytes` later): per group, the
// integer dot product of the nibbles with the int8 activations, started at
// -8 * sum(xq) so that it is the dot product with q, then
// acc = fma(dot, scale * d, acc), as the reference spells it. Each 4-byte
// activation broadcast serves the NT tiles. `prefetch`, when given, is the
// Int4Matrix block of the tile kCacheTiles further on, brought into L2 a
// group at a time.
template <class Tiles, int T, int NT>
void w4a8_block_kernel(const uint8_t* first, size_t tile_bytes, int64_t groups, const uint8_t* tokens, float* y,
                       int64_t ldy, const __mmask16* row_masks, const uint8_t* prefetch) {
  __m512 acc[NT][T];
  #pragma GCC unroll 16
  for (int i = 0; i < NT; ++i)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_setzero_ps();
  const uint8_t* blocks[NT];
  #pragma GCC unroll 16
  for (int i = 0; i < NT; ++i) blocks[i] = first + size_t(i) * tile_bytes;
  for (int64_t g = 0; g < groups; ++g, tokens += token_group_bytes(T)) {
    const int32_t* offset = reinterpret_cast<const int32_t*>(tokens);
    const float* d = reinterpret_cast<const float*>(tokens + 4 * T);
    const uint8_t* xq = tokens + 8 * T;
    if (prefetch) {
      #pragma GCC unroll 16
      for (int i = 0; i < NT; ++i)
        for (size_t line = 0; line < Int4Matrix::kBlockBytes; line += 64)
          _mm_prefetch(reinterpret_cast<const char*>(prefetch + size_t(i * groups + g) * Int4Matrix::kBlockBytes + line),
                       _MM_HINT_T1);
    }
    __m512i isum[NT][T];
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512i start = _mm512_set1_epi32(offset[t]);
      #pragma GCC unroll 16
      for (int i = 0; i < NT; ++i) isum[i][t] = start;
    }
    #pragma GCC unroll 4
    for (int k = 0; k < Int4Matrix::kChunks; ++k) {
      __m512i lo[NT], hi[NT];
      #pragma GCC unroll 16
      for (int i = 0; i < NT; ++i) {
        // One token (decode) streams its tiles from memory once.
        if constexpr (T == 1 && !std::is_same_v<Tiles, PanelTiles>) _mm_prefetch(reinterpret_cast<const char*>(blocks[i]) + 64 * k + kGemvPrefetchBytes, _MM_HINT_T0);
        Tiles::nibbles(blocks[i], k, lo[i], hi[i]);
      }
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const __m512i xlo = _mm512_broadcastd_epi32(_mm_loadu_si32(xq + 8 * (k * T + t)));
        const __m512i xhi = _mm512_broadcastd_epi32(_mm_loadu_si32(xq + 8 * (k * T + t) + 4));
        #pragma GCC unroll 16
        for (int i = 0; i < NT; ++i) {
          isum[i][t] = _mm512_dpbusd_epi32(isum[i][t], lo[i], xlo);
          isum[i][t] = _mm512_dpbusd_epi32(isum[i][t], hi[i], xhi);
        }
      }
    }
    #pragma GCC unroll 16
    for (int i = 0; i < NT; ++i) {
      const __m512 scale = Tiles::scales(blocks[i]);
      blocks[i] += Tiles::kBlockBytes;
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i][t]), _mm512_mul_ps(scale, _mm512_set1_ps(d[t])), acc[i][t]);
      }
    }
    // Past 6 tokens by 2 tiles the integer sums need every register: the
    // f32 accumulators then live in L1 (their loads and stores do not take
    // the vpdpbusd ports; left to itself, GCC spilled the integer sums).
    if constexpr (T * NT > 12) asm volatile("" : : "r"(acc) : "memory");
  }
  #pragma GCC unroll 16
  for (int i = 0; i < NT; ++i)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy + i * kTile, row_masks[i], acc[i][t]);
}

// Tiles per kernel call for T tokens: two up to kPairedT tokens, to keep
// enough independent chains (exact: 2-3 tokens, then one to stay within 32
// registers; w4a8: every block of 2+ tokens, whose activation broadcasts
// then serve two tiles: with 6-token blocks, 1.05-1.08x bench_int4's
// 8-token-by-one-tile kernel at 32 and 512 tokens);
// one for a single token, so a thread reads its tiles as one sequential
// stream the hardware prefetchers follow (four tiles side by side are four
// streams; bench_int4 measured 0.79-0.99 of the read bandwidth against
// 0.68-0.82 for decode-shaped expert GEMVs, the chains of successive groups
// overlapping instead).
template <int kPairedT>
constexpr int tiles_for(int T) { return T == 1 ? 1 : T <= kPairedT ? 2 : 1; }

// Runs fn<T, NT> over tiles [t0, t1) for a token block of T tokens.
template <int T, int kPairedT, class Call>
void over_tiles(int64_t t0, int64_t t1, Call&& call) {
  constexpr int NT = tiles_for<kPairedT>(T);
  int64_t tile = t0;
  for (; tile + NT <= t1; tile += NT) call.template operator()<T, NT>(tile);
  for (; tile < t1; ++tile) call.template operator()<T, 1>(tile);
}

// Dispatches a runtime token count (1..kMaxT) to the compile-time T.
template <int kMaxT, int kPairedT, class Call>
void with_tokens(int64_t nt, int64_t t0, int64_t t1, Call&& call) {
  if constexpr (kMaxT >= 1) {
    if (nt == kMaxT) return over_tiles<kMaxT, kPairedT>(t0, t1, call);
    with_tokens<kMaxT - 1, kPairedT>(nt, t0, t1, call);
  }
}

template <Int4ScaleType S>
void exact(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  constexpr int kMaxT = 6;
  const Int4Matrix& w = *a.w;
  for (int64_t c0 = tile_begin; c0 < tile_end; c0 += kCacheTiles) {
    const int64_t c1 = std::min(tile_end, c0 + kCacheTiles);
    for (int64_t t = 0; t < a.n; t += kMaxT) {
      const float* x = a.x + t * w.cols();
      float* y = a.y + t * w.rows();
      with_tokens<kMaxT, 3>(std::min<int64_t>(kMaxT, a.n - t), c0, c1, [&]<int T, int NT>(int64_t tile) {
        exact_kernel<S, T, NT>(w, tile, x, w.cols(), y, w.rows());
      });
    }
  }
}

// The activations are quantized and packed per block of tokens, then each
// group of kCacheTiles tiles runs every token block. From kPanelTokens
// tokens on, the tiles are first unpacked into a panel: unpacking costs
// about what 8 token blocks' in-register splitting does (bench_int4,
// 768 x 2048, one thread: equal at 64 tokens, 1.13x faster at 512, 0.93x at
// 30). With more than 6 tokens, the first block's calls also bring the next
// tiles' weights into L2 ahead of their use (a MoE layer's experts are cold:
// each is read once per step).
constexpr int64_t kPanelTokens = 64;

template <Int4ScaleType S>
void w4a8(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  // Blocks of 12 tokens by 2 tiles straight from the matrix, where the
  // nibble split is then paid once per 12 tokens: bench_int4, one thread,
  // cold weights, 32 tokens: 1.14-1.15x the G ops/s of 6-token blocks
  // (768 x 2048: 337 -> 389, 2048 x 768: 365 -> 416). The panel keeps
  // 6-token blocks, whose sums and accumulators fit the registers: with
  // 12 there, the models' prompts measured 0.94-0.98x.
  constexpr int kMaxT = 12, kPanelBlockTokens = 6;
  const Int4Matrix& w = *a.w;
  const int64_t groups = w.groups();
  const QuantizedActivations xq = a.q8 ? *a.q8 : quantize_tokens_q8(a.x, a.n, w.cols(), quantize_activations_q8_avx512);
  const bool unpack = a.n >= kPanelTokens, prefetch = a.n > kPanelBlockTokens;
  const int64_t per_block = unpack ? kPanelBlockTokens : kMaxT;
  const size_t block_bytes = size_t(groups) * token_group_bytes(int(per_block));
  thread_local std::vector<uint8_t> panel, tokens;
  tokens.resize(size_t((a.n + per_block - 1) / per_block) * block_bytes);
  for (int64_t t = 0; t < a.n; t += per_block)
    pack_token_block(xq.token(t), int(std::min(per_block, a.n - t)), &tokens[size_t(t / per_block) * block_bytes]);
  if (unpack) panel.resize(size_t(kCacheTiles * groups) * kPanelBlockBytes);
  for (int64_t c0 = tile_begin; c0 < tile_end; c0 += kCacheTiles) {
    const int64_t c1 = std::min(tile_end, c0 + kCacheTiles);
    if (unpack) unpack_panel<S>(w, c0, c1, panel.data());
    for (int64_t t = 0; t < a.n; t += per_block) {
      const uint8_t* block = &tokens[size_t(t / per_block) * block_bytes];
      float* y = a.y + t * w.rows();
      with_tokens<kMaxT, kMaxT>(std::min(per_block, a.n - t), c0, c1, [&]<int T, int NT>(int64_t tile) {
        const __mmask16 masks[2] = {row_mask(w, tile), NT > 1 ? row_mask(w, tile + 1) : __mmask16(0)};
        float* out = y + tile * kTile;
        // Only the first token block fetches: later ones find the lines in L2.
        const bool fetch = prefetch && t == 0 && tile + kCacheTiles + NT <= tile_end;
        const uint8_t* ahead = fetch ? w.block(tile + kCacheTiles, 0) : nullptr;
        if (unpack) {
          const size_t tile_bytes = size_t(groups) * kPanelBlockBytes;
          w4a8_block_kernel<PanelTiles, T, NT>(panel.data() + size_t(tile - c0) * tile_bytes, tile_bytes, groups,
                                               block, out, w.rows(), masks, ahead);
        } else {
          w4a8_block_kernel<MatrixTiles<S>, T, NT>(w.block(tile, 0), size_t(groups) * Int4Matrix::kBlockBytes,
                                                   groups, block, out, w.rows(), masks, ahead);
        }
      });
    }
  }
}

// Reduces 16 vectors to one whose lane i is the reduction of v[i]'s 16
// lanes under `op` (max or add, on the bits as float or int32): four
// shuffle rounds, 45 operations for 16 groups instead of a whole horizontal
// reduction (8 operations) per group.
template <class Op>
inline __m512 reduce_16_vectors(__m512* v, Op op) {
  for (int i = 0; i < 8; ++i)  // lane quads [v2i, v2i+1, v2i, v2i+1]
    v[i] = op(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 4; ++i)  // lane quads [v4i .. v4i+3]
    v[i] = op(_mm512_shuffle_ps(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
              _mm512_shuffle_ps(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int i = 0; i < 2; ++i)  // quads [a (l0, l2), a (l1, l3), b (l0, l2), b (l1, l3)]
    v[i] = op(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
              _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  return op(_mm512_shuffle_f32x4(v[0], v[1], _MM_SHUFFLE(2, 0, 2, 0)),
            _mm512_shuffle_f32x4(v[0], v[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

}  // namespace

// quantize_activations_q8 with the same results, 16 groups (512 columns) per
// step: their maxima, scales and sums are reduced and computed as vectors.
void quantize_activations_q8_avx512(const float* x, int64_t cols, int8_t* q, float* d, int32_t* qsum) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const int64_t groups = cols / kGroup;
  for (int64_t g0 = 0; g0 < groups; g0 += 16) {
    const int count = int(std::min<int64_t>(16, groups - g0));
    const __mmask16 valid = __mmask16((1u << count) - 1);
    const float* xg = x + g0 * kGroup;
    __m512 v[16];
    for (int i = 0; i < 16; ++i) {
      v[i] = i < count ? _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(xg + i * kGroup), abs_mask),
                                       _mm512_and_ps(_mm512_loadu_ps(xg + i * kGroup + 16), abs_mask))
                       : _mm512_setzero_ps();
    }
    const __m512 amax = reduce_16_vectors(v, [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); });
    // d = amax / 127 rounded to f16 (round to nearest even, as f32_to_f16).
    const __m512 scale = _mm512_div_ps(amax, _mm512_set1_ps(127.0f));
    _mm512_mask_storeu_ps(d + g0, valid, _mm512_cvtph_ps(_mm512_cvtps_ph(scale, _MM_FROUND_TO_NEAREST_INT)));
    alignas(64) float inv[16];
    _mm512_store_ps(inv, _mm512_maskz_div_ps(_mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_GT_OQ),
                                             _mm512_set1_ps(127.0f), amax));
    __m512 sums[16];
    for (int i = 0; i < 16; ++i) {
      if (i >= count) {
        sums[i] = _mm512_setzero_ps();
        continue;
      }
      const __m512 s = _mm512_set1_ps(inv[i]);
      // Round to nearest even, as nearbyint in the default rounding mode.
      const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xg + i * kGroup), s));
      const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xg + i * kGroup + 16), s));
      int8_t* out = q + (g0 + i) * kGroup;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtsepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm512_cvtsepi32_epi8(q1));
      sums[i] = _mm512_castsi512_ps(_mm512_add_epi32(q0, q1));
    }
    const __m512 total = reduce_16_vectors(sums, [](__m512 a, __m512 b) {
      return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b)));
    });
    _mm512_mask_storeu_epi32(qsum + g0, valid, _mm512_castps_si512(total));
  }
}

void int4_gemm_avx512(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  if (a.w->scale_type() == Int4ScaleType::F16) return exact<Int4ScaleType::F16>(a, tile_begin, tile_end);
  exact<Int4ScaleType::BF16>(a, tile_begin, tile_end);
}

void int4_gemm_avx512_vnni_w4a8(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  if (a.w->scale_type() == Int4ScaleType::F16) return w4a8<Int4ScaleType::F16>(a, tile_begin, tile_end);
  w4a8<Int4ScaleType::BF16>(a, tile_begin, tile_end);
}

}  // namespace strata
