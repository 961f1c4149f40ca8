// AVX-512 solution of gemm_fp8_e4m3_block128. Decoding 32 codes: an e4m3
// byte's sign, exponent and mantissa bits, moved into an f16 (sign to bit 15,
// exponent to bits 13..10, mantissa to 9..7), give the same value times 2^-8
// for normal and subnormal codes alike, so vcvtph2ps does the widening
// (exactly, subnormals included) and 2^8 is folded into the block scale. The
// one code pattern the f16 trick gets wrong is NaN (0x7f/0xff), which is
// patched in by mask. The weight is then fp8 * scale rounded once, as in the
// scalar reference.
//
// The micro-kernel computes a tile of T tokens x R rows with one zmm
// accumulator each, fed 16 columns at a time in column order (32 per step,
// masked at the end of a partial block); decoded
// weights are reused for the T tokens and activations for the R rows. For
// several tokens, a panel of 16 rows is decoded to f32 once and the tiles run
// over it, in chunks of tokens that stay in the L3 (as matmul_avx512 does).
// Either way every output gets the same FMAs in the same order, so a row's
// result does not depend on the batch it is in.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its
// own flow analysis then reports as uninitialised: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <limits>
#include <vector>

#include "kernels/fp8_gemm.h"
#include "kernels/fp8_matrix.h"

namespace strata {
namespace {

constexpr int kTileTokens = 4, kTileRows = 4, kPanelRows = 16;
constexpr int64_t kBlock = Fp8Matrix::kBlock;
// f32 activations per token chunk, a share of the L3 (as in matmul_avx512).
constexpr int64_t kChunkBytes = 4 << 20;
// Software prefetch distance along a row: the hardware prefetchers alone
// left the decode waiting on DRAM (bench_int4 BM_Fp8 4096 x 2048 GEMV:
// 1.9 ms without, 1.6 ms with 1 KiB; 512 B and 2 KiB no better).
constexpr int64_t kPrefetchBytes = 1024;

inline __mmask32 lanes32(int64_t n) { return n >= 32 ? ~__mmask32(0) : n <= 0 ? 0 : __mmask32((1u << n) - 1); }

// Weights of 32 codes (lanes outside `m` are zero): the f16 trick, then one
// multiply by scale256 = block scale * 2^8. A NaN code is rare enough (a
// sane checkpoint has none) to be patched behind a branch.
inline void decode32(const uint8_t* p, __mmask32 m, __m512 scale256, __m512& lo, __m512& hi) {
  const __m256i codes = _mm256_maskz_loadu_epi8(m, p);
  // Sign-extended to 16 bits, bits 15..7 hold the sign; shifted left by 7,
  // bit 15 is the sign, bit 14 a copy of it (cleared), 13..7 exponent and mantissa.
  const __m512i wide = _mm512_slli_epi16(_mm512_cvtepi8_epi16(codes), 7);
  const __m512i half = _mm512_and_si512(wide, _mm512_set1_epi16(int16_t(0xbf80)));
  lo = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(half)), scale256);
  hi = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(half, 1)), scale256);
  const __mmask32 nan = _mm256_cmpeq_epi8_mask(_mm256_or_si256(codes, _mm256_set1_epi8(int8_t(0x80))),
                                               _mm256_set1_epi8(int8_t(0xff)));
  if (__builtin_expect(nan != 0, 0)) {
    const __m512 qnan = _mm512_set1_ps(std::numeric_limits<float>::quiet_NaN());
    lo = _mm512_mask_mov_ps(lo, __mmask16(nan), qnan);
    hi = _mm512_mask_mov_ps(hi, __mmask16(nan >> 16), qnan);
  }
}

// R rows of FP8 codes, decoded as they are read.
template <int R>
struct Fp8Rows {
  const Fp8Matrix& w;
  int64_t r0;
  __m512 scale[R];
  void start_block(int64_t c0) {
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) scale[r] = _mm512_set1_ps(w.block_scales(r0 + r)[c0 / kBlock] * 256.0f);
  }
  void load(int r, int64_t c, __mmask32 m, __m512& lo, __m512& hi) const {
    _mm_prefetch(reinterpret_cast<const char*>(w.row(r0 + r) + c + kPrefetchBytes), _MM_HINT_T0);
    decode32(w.row(r0 + r) + c, m, scale[r], lo, hi);
  }
};

// R rows of weights already decoded to f32 (a panel, `stride` floats apart).
template <int R>
struct PanelRows {
  const float* p;
  int64_t stride;
  void start_block(int64_t) {}
  void load(int r, int64_t c, __mmask32, __m512& lo, __m512& hi) const {
    lo = _mm512_loadu_ps(p + r * stride + c);
    hi = _mm512_loadu_ps(p + r * stride + c + 16);
  }
};

// y[t * ldy + r] = sum_c x[t * ldx + c] * w_r[c] for t < T, r < R.
template <int T, int R, class Rows>
void tile(const float* x, int64_t ldx, Rows rows, int64_t cols, float* y, int64_t ldy) {
  __m512 acc[T][R];
  #pragma GCC unroll 4
  for (int t = 0; t < T; ++t)
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[t][r] = _mm512_setzero_ps();
  for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
    rows.start_block(c0);
    const int64_t c1 = std::min(cols, c0 + kBlock);
    for (int64_t c = c0; c < c1; c += 32) {
      const __mmask32 m = lanes32(c1 - c);
      __m512 xlo[T], xhi[T];
      #pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        xlo[t] = _mm512_maskz_loadu_ps(__mmask16(m), x + t * ldx + c);
        xhi[t] = _mm512_maskz_loadu_ps(__mmask16(m >> 16), x + t * ldx + c + 16);
      }
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        __m512 wlo, whi;
        rows.load(r, c, m, wlo, whi);
        #pragma GCC unroll 4
        for (int t = 0; t < T; ++t) {
          acc[t][r] = _mm512_fmadd_ps(xlo[t], wlo, acc[t][r]);
          acc[t][r] = _mm512_fmadd_ps(xhi[t], whi, acc[t][r]);
        }
      }
    }
  }
  #pragma GCC unroll 4
  for (int t = 0; t < T; ++t)
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) y[t * ldy + r] = _mm512_reduce_add_ps(acc[t][r]);
}

// `make(R)` gives the Rows for R rows starting at a row offset; all n tokens
// against `rows` rows, writing y columns [0, rows) with row stride ldy.
template <class Make>
void tiles(const float* x, int64_t n, int64_t cols, int64_t rows, float* y, int64_t ldy, Make make) {
  for (int64_t t = 0; t < n; t += kTileTokens) {
    const int64_t nt = std::min<int64_t>(kTileTokens, n - t);
    for (int64_t r = 0; r < rows; r += kTileRows) {
      const int64_t nr = std::min<int64_t>(kTileRows, rows - r);
      const float* xt = x + t * cols;
      float* yt = y + t * ldy + r;
      auto run = [&]<int T>() {
        switch (nr) {
          case 1: return tile<T, 1>(xt, cols, make.template operator()<1>(r), cols, yt, ldy);
          case 2: return tile<T, 2>(xt, cols, make.template operator()<2>(r), cols, yt, ldy);
          case 3: return tile<T, 3>(xt, cols, make.template operator()<3>(r), cols, yt, ldy);
          default: return tile<T, 4>(xt, cols, make.template operator()<4>(r), cols, yt, ldy);
        }
      };
      switch (nt) {
        case 1: run.template operator()<1>(); break;
        case 2: run.template operator()<2>(); break;
        case 3: run.template operator()<3>(); break;
        default: run.template operator()<4>(); break;
      }
    }
  }
}

}  // namespace

void fp8_gemm_avx512(const Fp8GemmArgs& a, int64_t row_begin, int64_t row_end) {
  const Fp8Matrix& w = *a.w;
  const int64_t cols = w.cols();
  const bool decode_panel = a.n >= kTileTokens;
  const int64_t stride = (cols + 31) / 32 * 32;
  thread_local std::vector<float> panel;
  if (decode_panel) panel.resize(size_t(kPanelRows * stride));
  const int64_t chunk = std::max<int64_t>(kTileTokens, kChunkBytes / (stride * 4) / kTileTokens * kTileTokens);
  for (int64_t t0 = 0; t0 < a.n; t0 += chunk) {
    const int64_t nt = std::min(chunk, a.n - t0);
    const float* x = a.x + t0 * cols;
    float* y = a.y + t0 * w.rows();
    for (int64_t p = row_begin; p < row_end; p += kPanelRows) {
      const int64_t rows = std::min<int64_t>(kPanelRows, row_end - p);
      if (!decode_panel) {
        tiles(x, nt, cols, rows, y + p, w.rows(),
              [&]<int R>(int64_t r) { return Fp8Rows<R>{w, p + r, {}}; });
        continue;
      }
      for (int64_t r = 0; r < rows; ++r) {
        float* out = panel.data() + r * stride;
        for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
          const __m512 scale = _mm512_set1_ps(w.block_scales(p + r)[c0 / kBlock] * 256.0f);
          const int64_t c1 = std::min(cols, c0 + kBlock);
          for (int64_t c = c0; c < c1; c += 32) {
            __m512 lo, hi;
            decode32(w.row(p + r) + c, lanes32(c1 - c), scale, lo, hi);
            _mm512_storeu_ps(out + c, lo);
            _mm512_storeu_ps(out + c + 16, hi);
          }
        }
      }
      tiles(x, nt, cols, rows, y + p, w.rows(),
            [&]<int R>(int64_t r) { return PanelRows<R>{panel.data() + r * stride, stride}; });
    }
  }
}

}  // namespace strata
