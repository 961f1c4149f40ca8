// Kernels: every gemm solution of each dense weight dtype against a
// double-precision dot product on awkward shapes; every solution of the
// small ops and of attention against its scalar reference; the references
// and the sampler against hand-computed values; the solution registry's
// listing and its selection under STRATA_KERNEL_ISA and STRATA_MATMUL_PATH.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <limits>
#include <random>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/op_profile.h"
#include "engine/sampler.h"
#include "kernels/attention.h"
#include "kernels/bf16_panels.h"
#include "kernels/compute_rates.h"
#include "kernels/f16_panels.h"
#include "kernels/gemm_work.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/shape_choices.h"
#include "kernels/solution_registry.h"
#include "kernels/weight_blocks.h"
#include "key_chunks.h"

namespace strata {
namespace {

// Random stored weights of `dtype`: plain types from normal floats, block
// types from random quants with a random positive scale.
std::vector<uint8_t> random_weights(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint8_t> bytes(size_t(dtype_bytes(dtype, rows * cols)));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : bytes) b = uint8_t(byte(rng));
  const int64_t n = rows * cols;
  switch (dtype) {
    case DType::F32:
      for (int64_t i = 0; i < n; ++i) {
        float v = normal(rng);
        std::memcpy(&bytes[size_t(i) * 4], &v, 4);
      }
      break;
    case DType::F16:
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const float v = normal(rng);
        const uint16_t h = dtype == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
        std::memcpy(&bytes[size_t(i) * 2], &h, 2);
      }
      break;
    default: {  // block types: overwrite each block's scale
      const int block_bytes = dtype_info(dtype).block_bytes;
      std::uniform_real_distribution<float> scale(0.001f, 0.1f);
      for (size_t off = 0; off < bytes.size(); off += size_t(block_bytes)) {
        const uint16_t d = f32_to_f16(scale(rng));
        std::memcpy(&bytes[off], &d, 2);
      }
    }
  }
  return bytes;
}

WeightMatrix matrix_of(DType dtype, const std::vector<uint8_t>& bytes, int64_t rows, int64_t cols) {
  return WeightMatrix{dtype, bytes.data(), rows, cols, size_t(dtype_bytes(dtype, cols))};
}

struct Shape {
  int64_t n, rows, cols;
};

class MatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTest, EveryVariantMatchesReference) {
  const DType dtype = GetParam();
  const bool blocks = dtype_info(dtype).block_elems > 1;
  std::vector<Shape> shapes;
  // Token counts whose last tile holds 1 (13 = 6 + 6 + 1) and 2 (8 = 6 + 2)
  // tokens besides the others.
  for (int64_t n : {1, 3, 8, 13, 17, 64}) {
    for (int64_t cols : {32, 96, 2048 + 32}) shapes.push_back({n, 37, cols});
    if (!blocks) shapes.push_back({n, 19, 45});  // a column tail
    // A column tail after two 512-column blocks (exact) or one 1024-column
    // block (bf16dot).
    if (!blocks) shapes.push_back({n, 6, 1030});
  }
  shapes.push_back({5, 1, 64});
  // Activations over 4 MiB (exact) and 2 MiB (bf16dot, 504-token chunks at
  // 2080 columns): the token-chunked path, then a chunk of one token.
  shapes.push_back({600, 5, 2048 + 32});
  shapes.push_back({505, 3, 2048 + 32});
  shapes.push_back({17, 150, 2048 + 32});  // several row groups, the last one partial
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& s : shapes) {
    SCOPED_TRACE(::testing::Message() << dtype_name(dtype) << " n=" << s.n << " rows=" << s.rows << " cols=" << s.cols);
    const auto bytes = random_weights(dtype, s.rows, s.cols, rng);
    const WeightMatrix w = matrix_of(dtype, bytes, s.rows, s.cols);
    std::vector<float> x(size_t(s.n * s.cols));
    for (auto& v : x) v = normal(rng);

    // bf16dot multiplies BF16 weights by activations rounded to bf16
    // (nearest even); its reference rounds them the same way.
    std::vector<float> x_bf16(x.size());
    for (size_t i = 0; i < x.size(); ++i) x_bf16[i] = bf16_to_f32(f32_to_bf16(x[i]));
    // Exact dot products (in double) and each element's magnitude bound.
    auto reference = [&](const std::vector<float>& xs, std::vector<double>& exact, std::vector<double>& bound) {
      std::vector<float> row(size_t(s.cols));
      exact.assign(size_t(s.n * s.rows), 0);
      bound.assign(size_t(s.n * s.rows), 0);
      for (int64_t r = 0; r < s.rows; ++r) {
        dequantize_row(dtype, w.row(r), s.cols, row.data());
        for (int64_t t = 0; t < s.n; ++t) {
          double sum = 0, mag = 0;
          for (int64_t c = 0; c < s.cols; ++c) {
            sum += double(xs[size_t(t * s.cols + c)]) * row[size_t(c)];
            mag += std::abs(double(xs[size_t(t * s.cols + c)]) * row[size_t(c)]);
          }
          exact[size_t(t * s.rows + r)] = sum;
          bound[size_t(t * s.rows + r)] = mag;
        }
      }
    };
    std::vector<double> exact_f32, bound_f32, exact_bf16, bound_bf16;
    reference(x, exact_f32, bound_f32);
    reference(x_bf16, exact_bf16, bound_bf16);
    const KernelDefinition<MatmulFn> def = gemm_definition(dtype);
    for (const Solution* solution : runnable_solutions(def.name)) {
      SCOPED_TRACE(solution->name);
      const MatmulFn kernel = solution->kernel(def);
      const bool rounds = solution->path == NumericPath::Bf16Dot;
      const auto& exact = rounds ? exact_bf16 : exact_f32;
      const auto& bound = rounds ? bound_bf16 : bound_f32;
      // f16fma's worst case (its bits are checked against an emulation in
      // Matmul.F16FmaIsItsEmulationBitForBit): fp16 sums of 32 products,
      // each rounding within 2^-11 of at most their magnitudes' sum.
      const double relative = solution->path == NumericPath::F16Fma ? 0x1p-6 : 1e-5;
      std::vector<float> y(size_t(s.n * s.rows), NAN);
      kernel(MatmulArgs{x.data(), s.n, w, y.data()}, 0, s.rows);
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(y[i], exact[i], relative * bound[i] + 1e-6) << "at " << i;
      }
      // A token's result does not depend on the batch around it.
      std::vector<float> single(size_t(s.rows));
      const int64_t t = s.n - 1;
      kernel(MatmulArgs{x.data() + t * s.cols, 1, w, single.data()}, 0, s.rows);
      for (int64_t r = 0; r < s.rows; ++r) ASSERT_EQ(single[size_t(r)], y[size_t(t * s.rows + r)]) << "row " << r;
      // Any row range computes just those outputs.
      std::vector<float> part(size_t(s.n * s.rows), -7.0f);
      const int64_t r0 = s.rows / 3, r1 = s.rows - 1;
      kernel(MatmulArgs{x.data(), s.n, w, part.data()}, r0, r1);
      for (int64_t tt = 0; tt < s.n; ++tt)
        for (int64_t r = 0; r < s.rows; ++r) {
          const float want = (r >= r0 && r < r1) ? y[size_t(tt * s.rows + r)] : -7.0f;
          ASSERT_EQ(part[size_t(tt * s.rows + r)], want);
        }
    }
    // The threaded entry point agrees with its kernel run whole.
    std::vector<float> threaded(size_t(s.n * s.rows)), whole(size_t(s.n * s.rows));
    matmul(x.data(), s.n, w, threaded.data());
    matmul_serial(x.data(), s.n, w, whole.data());
    ASSERT_EQ(threaded, whole);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MatmulTest,
                         ::testing::Values(DType::F32, DType::BF16, DType::F16, DType::Q8_0, DType::Q4_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// matmul_shared_input gives matmul's results row for row, for decode-sized
// batches (one pass over all matrices) and larger ones (per matrix), with
// row counts that are not multiples of the 16-row blocks, INT4 included.
TEST(Matmul, SharedInputPassEqualsOneMatmulPerMatrix) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t cols = 96;
  const auto q_bytes = random_weights(DType::BF16, 70, cols, rng), k_bytes = random_weights(DType::Q4_0, 19, cols, rng),
             v_bytes = random_weights(DType::F32, 33, cols, rng);
  const WeightMatrix q = matrix_of(DType::BF16, q_bytes, 70, cols), k4 = matrix_of(DType::Q4_0, k_bytes, 19, cols),
                     v = matrix_of(DType::F32, v_bytes, 33, cols);
  const Int4Matrix k_int4 = Int4Matrix::from_q4_0(k4.data, k4.rows, k4.cols);
  const WeightMatrix k = WeightMatrix::of(k_int4);
  for (int64_t n : {int64_t(1), int64_t(3), kSharedInputMaxTokens, kSharedInputMaxTokens + 1}) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    std::vector<float> x(size_t(n * cols));
    for (auto& e : x) e = normal(rng);
    std::vector<float> want_q(size_t(n * 70)), want_k(size_t(n * 19)), want_v(size_t(n * 33));
    matmul(x.data(), n, q, want_q.data());
    matmul(x.data(), n, k, want_k.data());
    matmul(x.data(), n, v, want_v.data());
    std::vector<float> got_q(want_q.size(), NAN), got_k(want_k.size(), NAN), got_v(want_v.size(), NAN);
    matmul_shared_input(x.data(), n, {{&q, got_q.data()}, {&k, got_k.data()}, {&v, got_v.data()}});
    EXPECT_EQ(got_q, want_q);
    EXPECT_EQ(got_k, want_k);
    EXPECT_EQ(got_v, want_v);
  }
}

// The dispatch points count each call's arithmetic to the op open on the
// driving thread, by the instructions that compute it; the workers' join
// wait, nested inside, takes none.
TEST(OpProfile, DispatchPointsCountTheirWorkToTheOpenOp) {
  std::mt19937 rng(3);
  const int64_t n = 5, rows = 48, cols = 64;
  const std::vector<uint8_t> w = random_weights(DType::BF16, rows, cols, rng);
  Int4Matrix int4(rows, cols, Int4ScaleType::F16);
  std::vector<float> x(size_t(n * cols), 0.5f), y(size_t(n * rows));
  const WeightMatrix bf16 = matrix_of(DType::BF16, w, rows, cols);
  op_profile::reset();
  op_profile::enable(true);
  {
    ScopedOp qkv(Op::QkvProj);
    matmul(x.data(), n, matrix_of(DType::BF16, w, rows, cols), y.data());
    { ScopedOp inner(Op::Router); matmul_rows(x.data(), n, matrix_of(DType::BF16, w, rows, cols), y.data(), 16, 32); }
    matmul_rows(x.data(), n, WeightMatrix::of(int4), y.data(), 0, 16);
    // Row ranges counted from the pool's workers add up to the matrices.
    std::vector<float> y2(y.size());
    matmul_shared_input(x.data(), n, {{&bf16, y.data()}, {&bf16, y2.data()}});
  }
  matmul(x.data(), n, matrix_of(DType::BF16, w, rows, cols), y.data());  // no op open: not counted
  op_profile::enable(false);
  matmul(x.data(), n, matrix_of(DType::BF16, w, rows, cols), y.data());  // profile off
  const OpTotals t = op_profile::totals();
  const Work int4_work = gemm_work(select(kGemmW4a16G32.name).path);
  std::array<double, size_t(Work::kCount)> qkv{}, router{};
  qkv[size_t(gemm_work(select(kGemmBf16.name).path))] += 3 * 2.0 * n * rows * cols;
  qkv[size_t(int4_work)] += 2.0 * n * 16 * cols;
  router[size_t(gemm_work(select(kGemmBf16.name).path))] = 2.0 * n * 16 * cols;
  EXPECT_EQ(t[size_t(Op::QkvProj)].ops, qkv);
  EXPECT_EQ(t[size_t(Op::Router)].ops, router);
  EXPECT_EQ(t[size_t(Op::JoinWait)].ops, (std::array<double, size_t(Work::kCount)>{}));
  EXPECT_EQ(gemm_work(NumericPath::W4A8), Work::Int8Dot);
  EXPECT_EQ(gemm_work(NumericPath::Exact), Work::F32Fma);
  op_profile::reset();
}

// Attention counts q.k and p.v over each row's keys in the call's range.
TEST(OpProfile, AttentionCountsFourFlopsPerKeyDimensionAndHead) {
  const int64_t hd = 4, heads = 2, block = 4;
  std::vector<float> kv(size_t(2 * 8 * block * heads * hd), 0.1f), q(size_t(3 * heads * hd), 0.2f), out(q.size());
  const int32_t table[] = {0, 1};
  const int32_t n_keys[] = {6, 7, 8};
  op_profile::reset();
  op_profile::enable(true);
  {
    ScopedOp op(Op::Attention);
    AttentionArgs a{hd, 3, heads, q.data(), out.data(), heads * hd, n_keys, kv.data(), kv.data() + kv.size() / 2,
                    table, int32_t(block), int64_t(block) * hd, hd, 1.0f};
    a.key_begin = 2;
    a.key_end = 7;  // rows see 4, 5 and 5 keys
    attention(a);
  }
  op_profile::enable(false);
  EXPECT_EQ(op_profile::totals()[size_t(Op::Attention)].ops[size_t(Work::F32Fma)], 4.0 * (4 + 5 + 5) * hd * heads);
  op_profile::reset();
}

// The rates are measured for what the CPU has, and the limit adds the kinds'
// times (they share the execution ports).
TEST(ComputeRates, MeasureTheCpusKindsAndAddTheirTimes) {
  const ComputeRates r = measure_compute_rates(1);
  EXPECT_GT(r.ops_per_second[size_t(Work::F32Fma)], 1e8);
  if (max_isa() >= Isa::Avx2) {
    EXPECT_GT(r.ops_per_second[size_t(Work::Int8Dot)], 1e8);
  }
  EXPECT_EQ(r.ops_per_second[size_t(Work::Bf16Dot)] > 0, max_isa() >= Isa::Avx512 && cpu_has({.bf16 = true}));
  EXPECT_EQ(r.ops_per_second[size_t(Work::F16Fma)] > 0, max_isa() >= Isa::Avx512 && cpu_has({.fp16 = true}));
  ComputeRates fixed;
  fixed.ops_per_second = {100, 400, 0, 200};
  // bf16 work without a rate counts nothing
  EXPECT_DOUBLE_EQ(compute_limit_seconds({50, 200, 7, 100}, fixed), 0.5 + 0.5 + 0.5);
}

// bf16dot is the default for BF16 weights only where the CPU's bf16 dot
// products run faster than its f32 FMAs; ties and CPUs without them get exact.
TEST(ComputeRates, Bf16DotPaysOnlyWhereItOutrunsF32Fma) {
  EXPECT_TRUE(bf16_dot_pays(2e11, 1e11));
  EXPECT_FALSE(bf16_dot_pays(0.5e11, 1e11));
  EXPECT_FALSE(bf16_dot_pays(1e11, 1e11));
  EXPECT_FALSE(bf16_dot_pays(0, 1e11));
  if (!(isa_supported(Isa::Avx512) && cpu_has({.bf16 = true}))) {
    EXPECT_FALSE(bf16_dot_pays_here());
  }
}

// f16fma is the default for BF16 weights only where the CPU's fp16 FMAs run
// at least 1.25x its f32 FMAs (its GEMMs' flushes take some of the gain).
TEST(ComputeRates, F16FmaPaysOnlyWhereItClearlyOutrunsF32Fma) {
  EXPECT_TRUE(f16_fma_pays(2e11, 1e11));
  EXPECT_TRUE(f16_fma_pays(1.25e11, 1e11));
  EXPECT_FALSE(f16_fma_pays(1.2e11, 1e11));
  EXPECT_FALSE(f16_fma_pays(1e11, 1e11));
  EXPECT_FALSE(f16_fma_pays(0, 0));
  if (!(isa_supported(Isa::Avx512) && cpu_has({.fp16 = true}))) {
    EXPECT_FALSE(f16_fma_pays_here());
  }
}

TEST(Matmul, BlockLayoutsDecodeAsSpecified) {
  // Q4_0: byte j holds weight j (low nibble) and weight j + 16 (high nibble).
  uint8_t q4[kQ4_0BlockBytes];
  const uint16_t two = f32_to_f16(2.0f);
  std::memcpy(q4, &two, 2);
  for (int j = 0; j < 16; ++j) q4[2 + j] = uint8_t((j & 0x0f) | ((15 - j) << 4));
  float w[32];
  dequantize_row(DType::Q4_0, q4, 32, w);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(w[j], 2.0f * float(j - 8));
    EXPECT_EQ(w[j + 16], 2.0f * float(15 - j - 8));
  }
  uint8_t q8[kQ8_0BlockBytes];
  const uint16_t half = f32_to_f16(0.5f);
  std::memcpy(q8, &half, 2);
  for (int j = 0; j < 32; ++j) q8[2 + j] = uint8_t(int8_t(j - 16));
  dequantize_row(DType::Q8_0, q8, 32, w);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(w[j], 0.5f * float(j - 16));
}

// Bf16Panels: word i of pair j of panel p holds row 16p + i's bf16 of
// column 2j (low half) and 2j + 1 (high half), zero past the last row and
// column. The constructor relays with AVX-512 where the CPU has it; the
// reference relay is checked on its own too.
TEST(Bf16Panels, RelayPlacesEachWeightAsSpecified) {
  std::mt19937 rng(11);
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{37, 45}, {16, 64}, {33, 70}, {5, 1}}) {
    SCOPED_TRACE(::testing::Message() << rows << " x " << cols);
    const auto bytes = random_weights(DType::BF16, rows, cols, rng);
    auto bits = [&](int64_t r, int64_t c) -> uint32_t {
      if (r >= rows || c >= cols) return 0;
      uint16_t h;
      std::memcpy(&h, &bytes[size_t(r * cols + c) * 2], 2);
      return h;
    };
    const Bf16Panels panels(bytes.data(), rows, cols, size_t(cols) * 2);
    ASSERT_EQ(panels.panels(), (rows + 15) / 16);
    ASSERT_EQ(panels.pairs(), (cols + 1) / 2);
    std::vector<uint32_t> reference(size_t(panels.pairs() * 16));
    for (int64_t p = 0; p < panels.panels(); ++p) {
      relay_bf16_panel(bytes.data(), size_t(cols) * 2, rows, cols, p * 16, reference.data());
      for (int64_t j = 0; j < panels.pairs(); ++j)
        for (int64_t i = 0; i < 16; ++i) {
          const uint32_t want = bits(p * 16 + i, 2 * j) | bits(p * 16 + i, 2 * j + 1) << 16;
          ASSERT_EQ(panels.panel(p)[j * 16 + i], want) << "panel " << p << " pair " << j << " row " << i;
          ASSERT_EQ(reference[size_t(j * 16 + i)], want);
        }
    }
  }
}

// F16Panels: as Bf16Panels, with each row's bf16 values times the power of
// two that brings its largest magnitude into [1, 2), rounded to fp16, and
// the inverse power per row (1 for padding rows); AVX-512 and reference
// relays agree, and a weight keeps its value where fp16 can hold it.
TEST(F16Panels, RelayScalesEachRowIntoFp16AsSpecified) {
  std::mt19937 rng(13);
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{37, 45}, {16, 64}, {33, 70}, {5, 1}}) {
    SCOPED_TRACE(::testing::Message() << rows << " x " << cols);
    auto bytes = random_weights(DType::BF16, rows, cols, rng);
    auto set = [&](int64_t r, int64_t c, float v) {
      const uint16_t h = f32_to_bf16(v);
      std::memcpy(&bytes[size_t(r * cols + c) * 2], &h, 2);
    };
    for (int64_t c = 0; c < cols; ++c) set(0, c, 0.0f);  // a row of zeros: factor 1
    if (rows > 2) {
      set(1, 0, 3.0e5f);  // beyond fp16's range before scaling
      set(2, cols - 1, -7e-9f);  // a tiny largest magnitude
    }
    auto bits = [&](int64_t r, int64_t c) -> uint16_t {
      uint16_t h;
      std::memcpy(&h, &bytes[size_t(r * cols + c) * 2], 2);
      return h;
    };
    const F16Panels panels(bytes.data(), rows, cols, size_t(cols) * 2);
    ASSERT_EQ(panels.panels(), (rows + 15) / 16);
    ASSERT_EQ(panels.pairs(), (cols + 1) / 2);
    std::vector<uint32_t> reference(size_t(panels.pairs() * 16));
    float reference_unscale[16];
    for (int64_t p = 0; p < panels.panels(); ++p) {
      relay_f16_panel(bytes.data(), size_t(cols) * 2, rows, cols, p * 16, reference.data(), reference_unscale);
      for (int64_t i = 0; i < 16; ++i) {
        const int64_t r = p * 16 + i;
        ASSERT_EQ(panels.unscale(p)[i], reference_unscale[i]) << "row " << r;
        float largest = 0;
        for (int64_t c = 0; r < rows && c < cols; ++c) largest = std::max(largest, std::abs(bf16_to_f32(bits(r, c))));
        const float factor = 1.0f / panels.unscale(p)[i];
        if (largest == 0) {
          EXPECT_EQ(factor, 1.0f);
        } else {
          EXPECT_GE(largest * factor, 1.0f) << "row " << r;
          EXPECT_LT(largest * factor, 2.0f) << "row " << r;
        }
        for (int64_t j = 0; j < panels.pairs(); ++j) {
          const uint32_t word = panels.panel(p)[j * 16 + i];
          ASSERT_EQ(reference[size_t(j * 16 + i)], word) << "panel " << p << " pair " << j << " row " << i;
          for (int half = 0; half < 2; ++half) {
            const int64_t c = 2 * j + half;
            const float got = f16_to_f32(uint16_t(word >> (16 * half)));
            if (r >= rows || c >= cols) {
              ASSERT_EQ(got, 0.0f);
              continue;
            }
            const float w = bf16_to_f32(bits(r, c)) * factor;
            if (std::abs(w) >= 0x1p-17f) {
              ASSERT_EQ(got, w) << "row " << r << " column " << c;
            } else {
              ASSERT_NEAR(got, w, 0x1p-25f) << "row " << r << " column " << c;
            }
          }
        }
      }
    }
  }
}

// f16fma's arithmetic, one operation at a time: fp16 rounding (nearest even,
// with subnormals) of exact double values.
double round_to_f16(double v) {
  if (std::isnan(v)) return v;
  if (std::abs(v) >= 65520.0) return std::copysign(INFINITY, v);
  int exponent = 0;  // |v| = f 2^exponent, f in [0.5, 1): 11 significant bits, none below 2^-24
  std::frexp(v, &exponent);
  const int lsb = std::max(exponent - 11, -24);
  return std::ldexp(std::nearbyint(std::ldexp(v, -lsb)), lsb);
}

// The f16fma solution's results as matmul_f16fma_avx512fp16.cpp specifies
// them: scaled fp16 weights and activations, lanes of (row, column parity)
// summing 32 products in fp16 then in f32, parities added, both powers of
// two undone.
std::vector<float> f16fma_emulated(const std::vector<float>& x, int64_t n, const std::vector<uint8_t>& bytes,
                                   int64_t rows, int64_t cols) {
  std::vector<float> xh(x.size()), x_unscale(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    float top = 0;
    for (int64_t c = 0; c < cols; ++c) top = std::max(top, std::abs(x[size_t(t * cols + c)]));
    int shift = 0;
    if (top > 0 && std::isfinite(top)) {
      int exponent = 0;
      std::frexp(top, &exponent);
      shift = std::clamp(9 - exponent, -126, 126);
    }
    x_unscale[size_t(t)] = std::ldexp(1.0f, -shift);
    for (int64_t c = 0; c < cols; ++c)
      xh[size_t(t * cols + c)] = f16_to_f32(f32_to_f16(x[size_t(t * cols + c)] * std::ldexp(1.0f, shift)));
  }
  std::vector<float> y(size_t(n * rows));
  std::vector<float> wh(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = bytes.data() + size_t(r * cols) * 2;
    const int shift = f16_row_shift(row, cols);
    for (int64_t c = 0; c < cols; ++c) {
      uint16_t h;
      std::memcpy(&h, row + 2 * c, 2);
      wh[size_t(c)] = f16_to_f32(f32_to_f16(bf16_to_f32(h) * std::ldexp(1.0f, shift)));
    }
    for (int64_t t = 0; t < n; ++t) {
      float sum[2] = {0, 0};
      for (int parity = 0; parity < 2; ++parity) {
        for (int64_t c0 = 0; c0 < cols; c0 += 64) {
          double acc = 0;
          for (int64_t c = c0 + parity; c < std::min(cols, c0 + 64); c += 2)
            acc = round_to_f16(double(xh[size_t(t * cols + c)]) * wh[size_t(c)] + acc);
          sum[parity] += float(acc);
        }
      }
      y[size_t(t * rows + r)] = (sum[0] + sum[1]) * std::ldexp(1.0f, -shift) * x_unscale[size_t(t)];
    }
  }
  return y;
}

// The f16fma kernel is its emulation bit for bit, whatever the tile, the
// token count, the row range and whether the weights come with panels or
// are re-laid per call; including activations far from fp16's range, a
// token of zeros and non-finite ones, which stay non-finite.
TEST(Matmul, F16FmaIsItsEmulationBitForBit) {
  if (max_isa() < Isa::Avx512 || !cpu_has({.fp16 = true})) GTEST_SKIP() << "no AVX512-FP16";
  std::mt19937 rng(14);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& s : std::vector<Shape>{
           {1, 37, 45}, {1, 70, 2048}, {2, 37, 2080}, {7, 150, 96}, {13, 33, 1030}, {25, 70, 64}, {600, 5, 2080}}) {
    SCOPED_TRACE(::testing::Message() << "n=" << s.n << " rows=" << s.rows << " cols=" << s.cols);
    const auto bytes = random_weights(DType::BF16, s.rows, s.cols, rng);
    const WeightMatrix rows_only = matrix_of(DType::BF16, bytes, s.rows, s.cols);
    const F16Panels panels(bytes.data(), s.rows, s.cols, rows_only.row_bytes);
    WeightMatrix with_panels = rows_only;
    with_panels.f16_panels = &panels;
    std::vector<float> x(size_t(s.n * s.cols));
    for (auto& v : x) v = normal(rng);
    const float token_scale[] = {1.0f, 1e6f, 1e-30f, 0.0f};
    for (int64_t t = 0; t < s.n; ++t)
      for (int64_t c = 0; c < s.cols; ++c) x[size_t(t * s.cols + c)] *= token_scale[t % 4];
    if (s.n > 4) x[size_t(4 * s.cols + 1)] = INFINITY;
    const std::vector<float> want = f16fma_emulated(x, s.n, bytes, s.rows, s.cols);
    const Solution* f16fma = nullptr;
    for (const Solution* sol : runnable_solutions(kGemmBf16.name))
      if (sol->path == NumericPath::F16Fma) f16fma = sol;
    ASSERT_NE(f16fma, nullptr);
    const MatmulFn kernel = f16fma->kernel(kGemmBf16);
    for (const WeightMatrix* w : std::initializer_list<const WeightMatrix*>{&rows_only, &with_panels}) {
      SCOPED_TRACE(w->f16_panels ? "panels" : "rows");
      std::vector<float> y(want.size(), NAN);
      kernel(MatmulArgs{x.data(), s.n, *w, y.data()}, 0, s.rows);
      for (size_t i = 0; i < y.size(); ++i) {
        if (std::isnan(want[i])) {
          ASSERT_TRUE(std::isnan(y[i])) << "at " << i;
        } else {
          ASSERT_EQ(y[i], want[i]) << "at " << i;
        }
      }
      if (s.n > 4) {
        for (int64_t r = 0; r < s.rows; ++r) ASSERT_FALSE(std::isfinite(y[size_t(4 * s.rows + r)]));
      }
      // Activations converted once by the caller give the same bits.
      const F16Activations converted = f16_activations(x.data(), s.n, s.cols);
      MatmulArgs args{x.data(), s.n, *w, nullptr};
      args.f16 = &converted;
      std::vector<float> part(want.size(), -7.0f);
      const int64_t r0 = std::min<int64_t>(3, s.rows - 1), r1 = std::max(r0 + 1, s.rows - 2);
      args.y = part.data();
      kernel(args, r0, r1);
      for (int64_t t = 0; t < s.n; ++t)
        for (int64_t r = 0; r < s.rows; ++r) {
          const size_t i = size_t(t * s.rows + r);
          if (r < r0 || r >= r1) {
            ASSERT_EQ(part[i], -7.0f);
          } else if (!std::isnan(y[i])) {
            ASSERT_EQ(part[i], y[i]) << "token " << t << " row " << r;
          }
        }
    }
  }
}

// On model-like data (unit-variance activations, 0.02-scale weights, 2048
// columns) f16fma's error against the exact sums is below bf16dot's: its
// activations keep 11 significant bits against 8, which outweighs its
// fp16 sums of 32 products.
TEST(Matmul, F16FmaErrsLessThanBf16Activations) {
  if (max_isa() < Isa::Avx512 || !cpu_has({.fp16 = true})) GTEST_SKIP() << "no AVX512-FP16";
  std::mt19937 rng(15);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 24, rows = 64, cols = 2048;
  std::vector<uint8_t> bytes(size_t(rows * cols) * 2);
  for (int64_t i = 0; i < rows * cols; ++i) {
    const uint16_t h = f32_to_bf16(0.02f * normal(rng));
    std::memcpy(&bytes[size_t(i) * 2], &h, 2);
  }
  std::vector<float> x(size_t(n * cols));
  for (auto& v : x) v = normal(rng);
  const std::vector<float> y = f16fma_emulated(x, n, bytes, rows, cols);
  double f16_error = 0, bf16_error = 0, norm = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < n; ++t) {
      double exact = 0, rounded = 0;
      for (int64_t c = 0; c < cols; ++c) {
        uint16_t h;
        std::memcpy(&h, &bytes[size_t(r * cols + c) * 2], 2);
        const double w = bf16_to_f32(h), xv = x[size_t(t * cols + c)];
        exact += xv * w;
        rounded += double(bf16_to_f32(f32_to_bf16(float(xv)))) * w;
      }
      f16_error += std::pow(y[size_t(t * rows + r)] - exact, 2);
      bf16_error += std::pow(rounded - exact, 2);
      norm += exact * exact;
    }
  const double f16_rms = std::sqrt(f16_error / norm), bf16_rms = std::sqrt(bf16_error / norm);
  std::printf("relative rms error: f16fma %.3g, bf16 activations %.3g\n", f16_rms, bf16_rms);
  EXPECT_LT(f16_rms, 0.75 * bf16_rms);
  EXPECT_LT(f16_rms, 2e-3);
}

// The AVX-512 exact BF16 kernel sums each row as one chain of FMAs over the
// columns in order, so every result equals std::fma applied column by
// column, bit for bit, whatever the tile, the token count, the row range
// and whether the weights come with panels or are re-laid per call.
TEST(Matmul, Bf16RowsAreOneFmaChainWithOrWithoutPanels) {
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& s : std::vector<Shape>{
           {1, 37, 45}, {1, 70, 2048}, {2, 37, 2080}, {12, 150, 96}, {13, 33, 1030}, {25, 70, 64}, {600, 5, 2080}}) {
    SCOPED_TRACE(::testing::Message() << "n=" << s.n << " rows=" << s.rows << " cols=" << s.cols);
    const auto bytes = random_weights(DType::BF16, s.rows, s.cols, rng);
    const WeightMatrix rows_only = matrix_of(DType::BF16, bytes, s.rows, s.cols);
    const Bf16Panels panels(bytes.data(), s.rows, s.cols, rows_only.row_bytes);
    WeightMatrix with_panels = rows_only;
    with_panels.panels = &panels;
    std::vector<float> x(size_t(s.n * s.cols));
    for (auto& v : x) v = normal(rng);
    std::vector<float> want(size_t(s.n * s.rows)), row(size_t(s.cols));
    for (int64_t r = 0; r < s.rows; ++r) {
      dequantize_row(DType::BF16, rows_only.row(r), s.cols, row.data());
      for (int64_t t = 0; t < s.n; ++t) {
        float sum = 0;
        for (int64_t c = 0; c < s.cols; ++c) sum = std::fma(x[size_t(t * s.cols + c)], row[size_t(c)], sum);
        want[size_t(t * s.rows + r)] = sum;
      }
    }
    for (const WeightMatrix* w : std::initializer_list<const WeightMatrix*>{&rows_only, &with_panels}) {
      SCOPED_TRACE(w->panels ? "panels" : "rows");
      std::vector<float> y(want.size(), NAN);
      matmul_avx512(MatmulArgs{x.data(), s.n, *w, y.data()}, 0, s.rows);
      ASSERT_EQ(y, want);
      // A range that starts and ends inside panels writes just its rows.
      const int64_t r0 = std::min<int64_t>(3, s.rows - 1), r1 = std::max(r0 + 1, s.rows - 2);
      std::vector<float> part(want.size(), -7.0f);
      matmul_avx512(MatmulArgs{x.data(), s.n, *w, part.data()}, r0, r1);
      for (int64_t t = 0; t < s.n; ++t)
        for (int64_t r = 0; r < s.rows; ++r)
          ASSERT_EQ(part[size_t(t * s.rows + r)], r >= r0 && r < r1 ? want[size_t(t * s.rows + r)] : -7.0f);
    }
  }
}

// matmul() follows gemm_bf16's selected numeric path: bf16dot (f16fma)
// gives the bf16dot (f16fma) solution's results for BF16 weights where the
// CPU has AVX512-BF16 (AVX512-FP16), the default elsewhere; exact gives the
// best exact solution's; F32 weights (gemm_f32, no such path) are the same
// on all.
TEST(Matmul, PathSelectionChoosesTheKernel) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 3, rows = 40, cols = 96;
  std::vector<float> x(size_t(n * cols));
  for (auto& v : x) v = normal(rng);
  const std::string_view before = select(kGemmBf16.name).name;
  const bool avx512 = max_isa() >= Isa::Avx512;
  const bool usable = avx512 && cpu_has({.bf16 = true});
  const bool f16_usable = avx512 && cpu_has({.fp16 = true});
  for (DType dtype : {DType::BF16, DType::F32}) {
    SCOPED_TRACE(dtype_name(dtype));
    const auto bytes = random_weights(dtype, rows, cols, rng);
    const WeightMatrix w = matrix_of(dtype, bytes, rows, cols);
    if (f16_usable) {
      select_path(kGemmBf16.name, NumericPath::F16Fma);
      EXPECT_EQ(select(kGemmBf16.name).name, "gemm_bf16_avx512fp16_f16fma");
      std::vector<float> y(size_t(n * rows)), direct(size_t(n * rows));
      matmul(x.data(), n, w, y.data());
      select(gemm_definition(dtype).name).kernel(gemm_definition(dtype))(MatmulArgs{x.data(), n, w, direct.data()}, 0,
                                                                         rows);
      EXPECT_EQ(y, direct);
    }
    auto run = [&](NumericPath path) {
      select_path(kGemmBf16.name, path);
      EXPECT_EQ(select(kGemmBf16.name).path == path, path == NumericPath::Exact || usable);
      std::vector<float> y(size_t(n * rows));
      matmul(x.data(), n, w, y.data());
      return y;
    };
    auto direct = [&](const Solution& s) {
      std::vector<float> y(size_t(n * rows));
      s.kernel(gemm_definition(dtype))(MatmulArgs{x.data(), n, w, y.data()}, 0, rows);
      return y;
    };
    const auto dot = run(NumericPath::Bf16Dot), exact = run(NumericPath::Exact);
    EXPECT_EQ(exact, direct(select(gemm_definition(dtype).name)));
    if (dtype == DType::F32) {
      EXPECT_EQ(dot, exact);
      continue;
    }
    if (!usable) continue;
    select_path(kGemmBf16.name, NumericPath::Bf16Dot);
    EXPECT_EQ(select(kGemmBf16.name).name, "gemm_bf16_avx512_bf16dot");
    EXPECT_EQ(dot, direct(select(kGemmBf16.name)));
    EXPECT_NE(dot, exact);
  }
  EXPECT_THROW(select_path(kGemmF32.name, NumericPath::Bf16Dot), Error);
  force_solution(kGemmBf16.name, before);
}

// Where the selection does not read panels (bf16dot), a kernel table's
// choice of a panel-reading solution for a shape re-lays that shape only,
// in the layout that solution reads.
TEST(Matmul, KernelTableChoiceOfThePanelKernelReLaysItsShape) {
  if (max_isa() < Isa::Avx512 || !cpu_has({.bf16 = true})) GTEST_SKIP() << "no AVX512-BF16";
  const std::string_view before = select(kGemmBf16.name).name;
  select_path(kGemmBf16.name, NumericPath::Bf16Dot);
  EXPECT_FALSE(matmul_bf16_layouts(64, 128).bf16_panels);
  EXPECT_FALSE(matmul_bf16_layouts(64, 128).f16_panels);
  add_shape_choice(kGemmBf16.name, {64, 128}, 16, "gemm_bf16_avx512");
  if (cpu_has({.fp16 = true})) add_shape_choice(kGemmBf16.name, {64, 128}, 1, "gemm_bf16_avx512fp16_f16fma");
  EXPECT_TRUE(matmul_bf16_layouts(64, 128).bf16_panels);
  EXPECT_EQ(matmul_bf16_layouts(64, 128).f16_panels, cpu_has({.fp16 = true}));
  EXPECT_FALSE(matmul_bf16_layouts(64, 256).bf16_panels);
  EXPECT_FALSE(matmul_bf16_layouts(64, 256).f16_panels);
  clear_shape_choices();
  force_solution(kGemmBf16.name, before);
  EXPECT_EQ(matmul_bf16_layouts(64, 128).bf16_panels, before == "gemm_bf16_avx512");
  EXPECT_EQ(matmul_bf16_layouts(64, 128).f16_panels, before == "gemm_bf16_avx512fp16_f16fma");
}

// STRATA_KERNEL_ISA and STRATA_MATMUL_PATH are read once per process, so
// each case runs in a child: "threadsafe" death tests re-execute the binary.
[[noreturn]] void print_selection_and_exit(const char* isa, const char* path, std::string_view definition) {
  setenv("STRATA_KERNEL_ISA", isa, 1);
  setenv("STRATA_MATMUL_PATH", path, 1);
  try {
    std::fprintf(stderr, "selected %s\n", std::string(select(definition).name).c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "error %s\n", e.what());
  }
  std::exit(0);
}

// Whether models re-lay BF16 weights into panels: where the selected
// gemm_bf16 solution reads them.
[[noreturn]] void print_panels_and_exit(const char* isa, const char* path) {
  setenv("STRATA_KERNEL_ISA", isa, 1);
  setenv("STRATA_MATMUL_PATH", path, 1);
  const Bf16Layouts layouts = matmul_bf16_layouts(64, 128);
  std::fprintf(stderr, "bf16 panels %s, f16 panels %s\n", layouts.bf16_panels ? "yes" : "no",
               layouts.f16_panels ? "yes" : "no");
  std::exit(0);
}

// The default gemm_bf16 selection against f16_fma_pays_here and
// bf16_dot_pays_here in the same process (each measured once per process).
[[noreturn]] void print_default_bf16_and_exit() {
  unsetenv("STRATA_KERNEL_ISA");
  unsetenv("STRATA_MATMUL_PATH");
  const std::string_view selected = select(kGemmBf16.name).name;
  const std::string_view expected = f16_fma_pays_here()    ? "gemm_bf16_avx512fp16_f16fma"
                                    : bf16_dot_pays_here() ? "gemm_bf16_avx512_bf16dot"
                                                           : "gemm_bf16_avx512";
  std::fprintf(stderr, "%s\n", selected == expected ? "default bf16 path follows the measured rates"
                                                    : "default bf16 path does not follow the measured rates");
  std::exit(0);
}

TEST(MatmulDeathTest, SelectionFollowsPathAndIsaCap) {
  if (!isa_supported(Isa::Avx2)) GTEST_SKIP() << "no AVX2";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  using ::testing::ExitedWithCode;
  // bf16dot is a preference: without a solution that runs, exact.
  EXPECT_EXIT(print_selection_and_exit("avx2", "bf16dot", "gemm_bf16"), ExitedWithCode(0), "selected gemm_bf16_avx2\n");
  EXPECT_EXIT(print_selection_and_exit("scalar", "", "gemm_bf16"), ExitedWithCode(0), "selected gemm_bf16_scalar\n");
  EXPECT_EXIT(print_selection_and_exit("avx2", "exact", "gemm_q8_0"), ExitedWithCode(0), "selected gemm_q8_0_avx2\n");
  EXPECT_EXIT(print_selection_and_exit("avx2", "", "rmsnorm"), ExitedWithCode(0), "selected rmsnorm_scalar\n");
  EXPECT_EXIT(print_selection_and_exit("avx2", "bf16", "gemm_bf16"), ExitedWithCode(0),
              "error STRATA_MATMUL_PATH: unknown value 'bf16' \\(expected f16fma, bf16dot or exact\\)");
  EXPECT_EXIT(print_selection_and_exit("avx3", "", "rmsnorm"), ExitedWithCode(0),
              "error STRATA_KERNEL_ISA: unknown value 'avx3' \\(expected scalar, avx2 or avx512\\)");
  if (!isa_supported(Isa::Avx512)) return;
  // By default f16fma or bf16dot only where their products outrun f32 FMAs,
  // as the child measured them; asked for, wherever they run.
  EXPECT_EXIT(print_default_bf16_and_exit(), ExitedWithCode(0), "default bf16 path follows the measured rates\n");
  if (cpu_has({.bf16 = true})) {
    EXPECT_EXIT(print_selection_and_exit("avx512", "bf16dot", "gemm_bf16"), ExitedWithCode(0),
                "selected gemm_bf16_avx512_bf16dot\n");
  }
  if (cpu_has({.fp16 = true})) {
    EXPECT_EXIT(print_selection_and_exit("avx512", "f16fma", "gemm_bf16"), ExitedWithCode(0),
                "selected gemm_bf16_avx512fp16_f16fma\n");
    EXPECT_EXIT(print_panels_and_exit("avx512", "f16fma"), ExitedWithCode(0), "bf16 panels no, f16 panels yes\n");
  }
  EXPECT_EXIT(print_selection_and_exit("avx512", "exact", "gemm_bf16"), ExitedWithCode(0), "selected gemm_bf16_avx512\n");
  EXPECT_EXIT(print_panels_and_exit("avx512", "exact"), ExitedWithCode(0), "bf16 panels yes, f16 panels no\n");
  EXPECT_EXIT(print_panels_and_exit("avx2", "exact"), ExitedWithCode(0), "bf16 panels no, f16 panels no\n");
  if (cpu_has({.bf16 = true})) {
    EXPECT_EXIT(print_panels_and_exit("avx512", "bf16dot"), ExitedWithCode(0), "bf16 panels no, f16 panels no\n");
  }
  EXPECT_EXIT(print_selection_and_exit("", "", "gqa_paged_attention"), ExitedWithCode(0), "selected attention_avx512\n");
}

// The registry itself: every definition has an exact scalar reference (the
// fallback on any CPU), every solution belongs to a known definition, names
// are unique, and the selection is the highest instruction set within the
// cap on its path. (The FlashInfer-Trace definitions in kernels/ name these
// through their strata_kernel tags: test_workbench.cpp.)
TEST(KernelRegistry, ListsEveryDefinitionsSolutions) {
  const auto defs = kernel_definitions();
  std::set<std::string_view> names;
  for (const Solution& s : all_solutions()) {
    SCOPED_TRACE(s.name);
    EXPECT_TRUE(names.insert(s.name).second) << "duplicate name";
    EXPECT_NE(std::find(defs.begin(), defs.end(), s.definition), defs.end()) << s.definition;
  }
  for (std::string_view def : defs) {
    SCOPED_TRACE(def);
    EXPECT_EQ(std::count(defs.begin(), defs.end(), def), 1);
    const auto runnable = runnable_solutions(def);
    EXPECT_TRUE(std::any_of(runnable.begin(), runnable.end(), [](const Solution* s) {
      return s->isa == Isa::Scalar && s->path == NumericPath::Exact && !s->needs.vnni && !s->needs.bf16;
    }));
    const Solution& chosen = select(def);
    EXPECT_EQ(chosen.definition, def);
    EXPECT_TRUE(solution_runs_here(chosen));
    EXPECT_LE(chosen.isa, max_isa());
    for (const Solution* s : runnable)
      if (s->path == chosen.path && s->isa <= max_isa()) EXPECT_LE(s->isa, chosen.isa) << s->name;
  }
  EXPECT_THROW(select("gemm_int3"), Error);
  EXPECT_THROW(force_solution(kRmsnorm.name, "softmax_scalar"), Error);
  EXPECT_THROW(all_solutions()[0].kernel(kRmsnorm), Error);
}

TEST(Ops, RmsNorm) {
  const float x[] = {3, 4, 0, 0}, w[] = {1, 2, 1, 1};
  float y[4];
  rmsnorm(x, w, y, 1, 4, 0.0f);  // rms = sqrt(25 / 4) = 2.5
  EXPECT_FLOAT_EQ(y[0], 1.2f);
  EXPECT_FLOAT_EQ(y[1], 3.2f);
  EXPECT_EQ(y[2], 0.0f);
  float rows[] = {1, 1, 2, 2};  // two rows of two, in place
  const float ones[] = {1, 1};
  rmsnorm(rows, ones, rows, 2, 2, 0.0f);
  for (float v : rows) EXPECT_FLOAT_EQ(v, 1.0f);
}

// Each fused add+rmsnorm solution is its ISA's add then rmsnorm, bit for
// bit (the decoder fuses them, so outputs must not move), on rows that are
// not a multiple of the vector width.
TEST(Ops, FusedAddRmsNormIsAddThenRmsNorm) {
  const int64_t rows = 3, dim = 37;
  std::vector<float> delta(rows * dim), residual(rows * dim), w(dim);
  for (size_t i = 0; i < delta.size(); ++i) {
    delta[i] = float(int(i % 11) - 5) * 0.31f;
    residual[i] = float(int(i % 7) - 3) * 1.7f;
  }
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f + float(i) / 37.0f;
  std::map<Isa, const Solution*> norms;
  for (const Solution* s : runnable_solutions(kRmsnorm.name)) norms[s->isa] = s;
  const auto fused = runnable_solutions(kFusedAddRmsnorm.name);
  ASSERT_GE(fused.size(), 1u);
  for (const Solution* s : fused) {
    SCOPED_TRACE(s->name);
    ASSERT_TRUE(norms.contains(s->isa));
    std::vector<float> res_fused = residual, y_fused(rows * dim), res_plain = residual, y_plain(rows * dim);
    s->kernel(kFusedAddRmsnorm)(delta.data(), res_fused.data(), w.data(), y_fused.data(), rows, dim, 1e-6f);
    for (size_t i = 0; i < res_plain.size(); ++i) res_plain[i] += delta[i];
    norms[s->isa]->kernel(kRmsnorm)(res_plain.data(), w.data(), y_plain.data(), rows, dim, 1e-6f);
    EXPECT_EQ(res_fused, res_plain);
    EXPECT_EQ(y_fused, y_plain);
  }
}

TEST(Ops, RopeNeox) {
  // head_dim 4: pairs (0, 2) and (1, 3); angles pos * 10000^(-2i/4).
  float x[] = {1, 2, 3, 4, /* second head */ 1, 0, 0, 1};
  const int32_t pos1[] = {1};
  rope_neox(x, 1, 2, 4, 4, pos1, 10000.0f);
  const double a0 = 1.0, a1 = 0.01;
  EXPECT_NEAR(x[0], 1 * std::cos(a0) - 3 * std::sin(a0), 1e-6);
  EXPECT_NEAR(x[2], 1 * std::sin(a0) + 3 * std::cos(a0), 1e-6);
  EXPECT_NEAR(x[1], 2 * std::cos(a1) - 4 * std::sin(a1), 1e-6);
  EXPECT_NEAR(x[3], 2 * std::sin(a1) + 4 * std::cos(a1), 1e-6);
  EXPECT_NEAR(x[4], std::cos(a0), 1e-6);
  EXPECT_NEAR(x[7], std::cos(a1), 1e-6);
  float y[] = {1, 2, 3, 4};
  const int32_t pos0[] = {0};
  rope_neox(y, 1, 1, 4, 4, pos0, 10000.0f);
  EXPECT_EQ(y[1], 2.0f);
  EXPECT_EQ(y[3], 4.0f);
}

// Partial RoPE (MiniMax-M2: 64 of 128 dims): with rotary_dim 4 of head_dim 6
// the pairs are (0, 2) and (1, 3) at angles pos * 10000^(-2i/4); dims 4, 5 pass.
TEST(Ops, RopeNeoxPartial) {
  const int32_t pos[] = {3};
  for (const Solution* k : runnable_solutions(kRopeNeox.name)) {
    SCOPED_TRACE(k->name);
    float x[] = {1, 2, 3, 4, 5, 6};
    k->kernel(kRopeNeox)(x, 1, 1, 6, 4, pos, 10000.0f);
    const double a0 = 3.0, a1 = 0.03;
    EXPECT_NEAR(x[0], 1 * std::cos(a0) - 3 * std::sin(a0), 1e-6);
    EXPECT_NEAR(x[2], 1 * std::sin(a0) + 3 * std::cos(a0), 1e-6);
    EXPECT_NEAR(x[1], 2 * std::cos(a1) - 4 * std::sin(a1), 1e-6);
    EXPECT_NEAR(x[3], 2 * std::sin(a1) + 4 * std::cos(a1), 1e-6);
    EXPECT_EQ(x[4], 5.0f);
    EXPECT_EQ(x[5], 6.0f);
  }
}

TEST(Ops, SoftmaxIsStable) {
  float x[] = {1000, 1001, 1002};
  softmax(x, 3);
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  EXPECT_NEAR(x[0], 1 / z, 1e-6);
  EXPECT_NEAR(x[2], std::exp(2.0) / z, 1e-6);
}

TEST(Ops, SiluMul) {
  const float g[] = {1, -2, 0}, u[] = {2, 1, 5};
  float out[3];
  silu_mul(g, u, out, 3);
  EXPECT_NEAR(out[0], 2 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(out[1], -2 / (1 + std::exp(2.0)), 1e-6);
  EXPECT_EQ(out[2], 0.0f);
}

TEST(Ops, Attention) {
  // Rows hold two heads of two; the head at offset 2 is used. Blocks of one
  // position, [key row, value row] each; position 0 is in block 1.
  const float kv[] = {9, 9, 0, 1, /* v1 */ 9, 9, 3, 4, /* block 1: k0 */ 9, 9, 1, 0, /* v0 */ 9, 9, 1, 2};
  const int32_t table[] = {1, 0};
  const float q[] = {2, 0, /* second row */ 2, 0};
  const int32_t n_keys[] = {2, 1};  // the second row is causal: only position 0
  for (const Solution* kernel : runnable_solutions(kGqaPagedAttention.name)) {
    SCOPED_TRACE(kernel->name);
    float out[4];
    kernel->kernel(kGqaPagedAttention)(AttentionArgs{2, 2, 1, q, out, 2, n_keys, kv + 2, kv + 6, table, 1, 8, 4, 0.5f});  // scores 1, 0
    const double p0 = std::exp(1.0) / (1 + std::exp(1.0));
    EXPECT_NEAR(out[0], p0 * 1 + (1 - p0) * 3, 1e-6);
    EXPECT_NEAR(out[1], p0 * 2 + (1 - p0) * 4, 1e-6);
    EXPECT_FLOAT_EQ(out[2], 1.0f);
    EXPECT_FLOAT_EQ(out[3], 2.0f);
  }
}

// Blocks of rows x GQA heads over paged K/V (blocks of 3 positions in
// scattered order), with head dims and key counts that leave SIMD tails,
// against the reference.
TEST(Ops, AttentionVariantsMatchReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  struct Case {
    int64_t head_dim, n_rows, n_heads;
    int32_t first_keys;
  };
  for (const Case& c : {Case{128, 4, 8, 1}, Case{128, 1, 8, 300}, Case{40, 5, 3, 17}, Case{8, 3, 1, 1},
                        Case{200, 2, 2, 33}}) {
    SCOPED_TRACE(::testing::Message() << "head_dim=" << c.head_dim << " rows=" << c.n_rows << " heads=" << c.n_heads
                                      << " first_keys=" << c.first_keys);
    const int64_t n_pos = c.first_keys + c.n_rows - 1, kv_row = 3 * c.head_dim, offset = c.head_dim;
    constexpr int32_t kBlock = 3;
    const int32_t n_blocks = int32_t((n_pos + kBlock - 1) / kBlock);
    const int64_t block_stride = 2 * kBlock * kv_row + 7;  // keys, then values, then padding
    std::vector<float> kv(size_t(n_blocks * block_stride));
    for (auto& v : kv) v = normal(rng);
    std::vector<int32_t> table(static_cast<size_t>(n_blocks));
    for (int32_t b = 0; b < n_blocks; ++b) table[size_t(b)] = (b * 5 + 2) % n_blocks;  // scattered when n_blocks % 5 != 0
    const float* k_base = kv.data() + offset;
    const float* v_base = kv.data() + kBlock * kv_row + offset;
    const int64_t stride = c.n_heads * c.head_dim + 5;
    std::vector<float> q(size_t(c.n_rows * stride));
    for (auto& v : q) v = normal(rng);
    std::vector<int32_t> n_keys;
    for (int64_t r = 0; r < c.n_rows; ++r) n_keys.push_back(c.first_keys + int32_t(r));
    const float scale = 1.0f / std::sqrt(float(c.head_dim));
    std::vector<float> want(q.size(), -1.0f);
    attention_scalar(AttentionArgs{c.head_dim, c.n_rows, c.n_heads, q.data(), want.data(), stride, n_keys.data(),
                                   k_base, v_base, table.data(), kBlock, block_stride, kv_row, scale});
    for (const Solution* kernel : runnable_solutions(kGqaPagedAttention.name)) {
      SCOPED_TRACE(kernel->name);
      std::vector<float> got(q.size(), -1.0f);
      kernel->kernel(kGqaPagedAttention)(AttentionArgs{c.head_dim, c.n_rows, c.n_heads, q.data(), got.data(), stride, n_keys.data(),
                              k_base, v_base, table.data(), kBlock, block_stride, kv_row, scale});
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-5) << "at " << i;
    }
  }
}

// Random keys and values for `positions` positions in blocks of `block`
// (keys, then values, per block), the blocks stored in reverse order.
struct ReversedPagedKv {
  std::vector<float> kv;
  std::vector<int32_t> table;
  int64_t block_stride;
  ReversedPagedKv(int32_t positions, int32_t block, int64_t head_dim, std::mt19937& rng)
      : table(static_cast<size_t>((positions + block - 1) / block)), block_stride(2 * block * head_dim) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int32_t n_blocks = int32_t(table.size());
    kv.resize(size_t(n_blocks * block_stride));
    for (float& v : kv) v = normal(rng);
    for (int32_t b = 0; b < n_blocks; ++b) table[size_t(b)] = n_blocks - 1 - b;
  }
};

// A query's output and softmax state do not depend on the block it is in:
// a prompt's rows (a block of many queries: the AVX-512 solution puts them
// in lanes) and the same rows attended one at a time (a decode step's few
// queries: it tiles them) give the same bits, over the whole causal range
// and over a split-KV chunk. Greedy decoding then continues a prompt as the
// prompt itself would have, whatever the schedule.
TEST(Ops, AttentionRowsGiveTheSameBitsAloneAsInABlock) {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr int64_t kHeadDim = 128, kHeads = 8, kRows = 7, kStride = kHeads * kHeadDim;
  constexpr int32_t kBlock = 16, kFirstKeys = 70;  // rows see 70..76 keys: the third 32-key tile is partial
  const ReversedPagedKv paged(kFirstKeys + kRows, kBlock, kHeadDim, rng);
  std::vector<float> q(size_t(kRows * kStride));
  for (float& v : q) v = normal(rng);
  std::vector<int32_t> n_keys;
  for (int32_t r = 0; r < kRows; ++r) n_keys.push_back(kFirstKeys + r);
  for (const Solution* kernel : runnable_solutions(kGqaPagedAttention.name)) {
    const AttentionFn fn = kernel->kernel(kGqaPagedAttention);
    for (const auto& [begin, end] : {std::pair{0, INT32_MAX}, std::pair{32, 72}}) {
      SCOPED_TRACE(::testing::Message() << kernel->name << " keys [" << begin << ", " << end << ")");
      auto args = [&](int64_t row, int64_t rows, float* out, SoftmaxState* states) {
        AttentionArgs a{kHeadDim, rows, kHeads, &q[size_t(row * kStride)], out, kStride, &n_keys[size_t(row)],
                        paged.kv.data(), paged.kv.data() + kBlock * kHeadDim, paged.table.data(), kBlock,
                        paged.block_stride, kHeadDim, 0.088f, begin, end, states, kHeads};
        return a;
      };
      std::vector<float> block(q.size(), -1.0f), alone(q.size(), -2.0f);
      std::vector<SoftmaxState> block_states(size_t(kRows * kHeads)), alone_states(size_t(kRows * kHeads));
      fn(args(0, kRows, block.data(), block_states.data()));
      for (int64_t r = 0; r < kRows; ++r)
        fn(args(r, 1, &alone[size_t(r * kStride)], &alone_states[size_t(r * kHeads)]));
      for (size_t i = 0; i < block.size(); ++i) ASSERT_EQ(block[i], alone[i]) << "at " << i;
      for (size_t i = 0; i < block_states.size(); ++i) {
        ASSERT_EQ(block_states[i].max, alone_states[i].max) << i;
        ASSERT_EQ(block_states[i].sum, alone_states[i].sum) << i;
      }
    }
  }
}

// Split-KV: a block of rows attended chunk by chunk (each chunk's outputs
// and softmax states written, then merged per query) equals the whole range,
// for every solution, key counts around the 16-key tile and the block size
// of 3, chunks of one key, and rows that see none of a chunk's keys.
TEST(Ops, AttentionKeyChunksMergeToTheWholeRange) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr int64_t kHeadDim = 40, kHeads = 3, kRows = 3, kStride = kHeads * kHeadDim + 4;
  constexpr int32_t kBlock = 3;
  for (const int32_t last_keys : {1, 2, 15, 16, 17, 33, 48, 50, 130}) {
    const ReversedPagedKv paged(last_keys, kBlock, kHeadDim, rng);
    std::vector<float> q(size_t(kRows * kStride));
    for (float& v : q) v = normal(rng);
    // Causal rows: the first ones see fewer keys (at least one).
    std::vector<int32_t> n_keys;
    for (int64_t r = 0; r < kRows; ++r) n_keys.push_back(std::max<int32_t>(1, last_keys - int32_t(kRows - 1 - r)));
    auto args = [&](float* out) {
      return AttentionArgs{kHeadDim, kRows, kHeads, q.data(), out, kStride, n_keys.data(), paged.kv.data(),
                           paged.kv.data() + kBlock * kHeadDim, paged.table.data(), kBlock, paged.block_stride,
                           kHeadDim, 0.2f};
    };
    std::vector<float> want(q.size());
    attention_scalar(args(want.data()));
    for (const Solution* kernel : runnable_solutions(kGqaPagedAttention.name)) {
      const AttentionFn fn = kernel->kernel(kGqaPagedAttention);
      for (const KeyChunks& chunks : key_chunkings(last_keys)) {
        SCOPED_TRACE(::testing::Message() << kernel->name << " keys " << last_keys << " chunks of "
                                          << chunks[0].second << ", " << chunks.size() << " chunks");
        const int64_t part_stride = kRows * kStride, n_queries = kRows * kHeads;
        std::vector<float> parts(chunks.size() * size_t(part_stride));
        std::vector<SoftmaxState> states(chunks.size() * size_t(n_queries));
        for (size_t c = 0; c < chunks.size(); ++c) {
          AttentionArgs a = args(&parts[c * size_t(part_stride)]);
          a.key_begin = chunks[c].first;
          a.key_end = chunks[c].second;
          a.states = &states[c * size_t(n_queries)];
          a.state_row_stride = kHeads;
          fn(a);
        }
        std::vector<float> got(q.size());
        for (int64_t r = 0; r < kRows; ++r)
          for (int64_t j = 0; j < kHeads; ++j) {
            const int64_t at = r * kStride + j * kHeadDim;
            merge_attention_parts(kHeadDim, int64_t(chunks.size()), &parts[size_t(at)], part_stride,
                                  &states[size_t(r * kHeads + j)], n_queries, &got[size_t(at)]);
            for (int64_t i = 0; i < kHeadDim; ++i) ASSERT_NEAR(got[size_t(at + i)], want[size_t(at + i)], 2e-5);
          }
      }
      // The whole range's states: the largest scaled score and the sum of exp(score - max).
      std::vector<float> out(q.size());
      std::vector<SoftmaxState> states(size_t(kRows * kHeads));
      AttentionArgs a = args(out.data());
      a.states = states.data();
      a.state_row_stride = kHeads;
      fn(a);
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t j = 0; j < kHeads; ++j) {
          std::vector<double> scores;
          for (int32_t p = 0; p < n_keys[size_t(r)]; ++p) {
            double dot = 0;
            for (int64_t i = 0; i < kHeadDim; ++i) dot += double(q[size_t(r * kStride + j * kHeadDim + i)]) * a.key(p)[i];
            scores.push_back(dot * 0.2);
          }
          const double max = *std::max_element(scores.begin(), scores.end());
          double sum = 0;
          for (double s : scores) sum += std::exp(s - max);
          const SoftmaxState& st = states[size_t(r * kHeads + j)];
          EXPECT_NEAR(st.max, max, 1e-4 * std::max(1.0, std::fabs(max))) << kernel->name;
          EXPECT_NEAR(st.sum, sum, 1e-4 * sum) << kernel->name;
        }
    }
  }
}

// A chunk that holds no key of a row leaves that row's output 0 and its state
// empty, which the merge then ignores.
TEST(Ops, AttentionMergeIgnoresEmptyParts) {
  const float parts[] = {1, 2, /* empty */ 0, 0, /* third */ 5, 6};
  const SoftmaxState states[] = {{0.5f, 2.0f}, {}, {1.5f, 1.0f}};
  float out[2];
  merge_attention_parts(2, 3, parts, 2, states, 1, out);
  const double w0 = 2 * std::exp(0.5 - 1.5), w2 = 1;
  EXPECT_NEAR(out[0], (w0 * 1 + w2 * 5) / (w0 + w2), 1e-6);
  EXPECT_NEAR(out[1], (w0 * 2 + w2 * 6) / (w0 + w2), 1e-6);
}

// GPT-J pairs (0, 1) and (2, 3) at angles pos * 10000^(-2i/4) with
// rotary_dim 4 of head_dim 6; dims 4, 5 pass through.
TEST(Ops, RopeGptjPartial) {
  const int32_t pos[] = {3};
  for (const Solution* k : runnable_solutions(kRopeGptj.name)) {
    SCOPED_TRACE(k->name);
    float x[] = {1, 2, 3, 4, 5, 6};
    k->kernel(kRopeGptj)(x, 1, 1, 6, 4, pos, 10000.0f);
    const double a0 = 3.0, a1 = 0.03;
    EXPECT_NEAR(x[0], 1 * std::cos(a0) - 2 * std::sin(a0), 1e-6);
    EXPECT_NEAR(x[1], 1 * std::sin(a0) + 2 * std::cos(a0), 1e-6);
    EXPECT_NEAR(x[2], 3 * std::cos(a1) - 4 * std::sin(a1), 1e-6);
    EXPECT_NEAR(x[3], 3 * std::sin(a1) + 4 * std::cos(a1), 1e-6);
    EXPECT_EQ(x[4], 5.0f);
    EXPECT_EQ(x[5], 6.0f);
  }
}

// Both pairings, every solution against its reference, with rotary dims that
// leave SIMD tails and partial rotation.
TEST(Ops, RopeVariantsMatchReferencePartial) {
  std::mt19937 rng(6);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  struct Shape {
    int64_t head_dim, rotary_dim;
  };
  for (const Shape sh : {Shape{16, 8}, Shape{128, 64}, Shape{192, 64}, Shape{40, 38}}) {
    for (const auto& [def, reference] : {std::pair{kRopeNeox, &rope_neox_scalar}, std::pair{kRopeGptj, &rope_gptj_scalar}}) {
      SCOPED_TRACE(::testing::Message() << def.name << " head_dim=" << sh.head_dim << " rotary=" << sh.rotary_dim);
      const int32_t positions[] = {0, 9, 70000};
      std::vector<float> want(size_t(3 * 2 * sh.head_dim));
      for (auto& v : want) v = normal(rng);
      const std::vector<float> input = want;
      reference(want.data(), 3, 2, sh.head_dim, sh.rotary_dim, positions, 5e6f);
      for (size_t i = 0; i < want.size(); ++i) {
        if (int64_t(i) % sh.head_dim >= sh.rotary_dim) ASSERT_EQ(want[i], input[i]) << "pass-through dim " << i;
      }
      for (const Solution* k : runnable_solutions(def.name)) {
        SCOPED_TRACE(k->name);
        std::vector<float> got = input;
        k->kernel(def)(got.data(), 3, 2, sh.head_dim, sh.rotary_dim, positions, 5e6f);
        for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6) << "at " << i;
      }
    }
  }
}

// The variants rotate by the same angles; only FMA fusion may differ.
TEST(Ops, RopeVariantsMatchReference) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t head_dim : {4, 40, 128}) {
    SCOPED_TRACE(::testing::Message() << "head_dim=" << head_dim);
    const int32_t positions[] = {0, 7, 4095};
    std::vector<float> want(size_t(3 * 2 * head_dim));
    for (auto& v : want) v = normal(rng);
    const std::vector<float> input = want;
    rope_neox_scalar(want.data(), 3, 2, head_dim, head_dim, positions, 1e6f);
    for (const Solution* k : runnable_solutions(kRopeNeox.name)) {
      SCOPED_TRACE(k->name);
      std::vector<float> got = input;
      k->kernel(kRopeNeox)(got.data(), 3, 2, head_dim, head_dim, positions, 1e6f);
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6) << "at " << i;
    }
  }
}

// rmsnorm, softmax and silu_mul: every variant against the reference, on
// lengths with and without SIMD tails and values of both signs and scales.
TEST(Ops, ElementwiseVariantsMatchReference) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (int64_t n : {1, 15, 16, 37, 128, 2048}) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    std::vector<float> a(size_t(n * 3)), b(size_t(n * 3)), w(static_cast<size_t>(n));
    for (auto& v : a) v = normal(rng);
    for (auto& v : b) v = normal(rng);
    for (auto& v : w) v = normal(rng);
    a[0] = 95.0f;  // exp's clamp range
    if (n > 1) a[1] = -95.0f;
    auto close = [](const std::vector<float>& got, const std::vector<float>& want, double rel) {
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], rel * std::abs(want[i]) + 1e-7) << "at " << i;
    };
    std::vector<float> want(a.size()), got(a.size());
    rmsnorm_scalar(a.data(), w.data(), want.data(), 3, n, 1e-6f);
    for (const Solution* k : runnable_solutions(kRmsnorm.name)) {
      SCOPED_TRACE(k->name);
      k->kernel(kRmsnorm)(a.data(), w.data(), got.data(), 3, n, 1e-6f);
      close(got, want, 1e-6);
    }
    silu_mul_scalar(a.data(), b.data(), want.data(), 3 * n);
    for (const Solution* k : runnable_solutions(kSiluMul.name)) {
      SCOPED_TRACE(k->name);
      k->kernel(kSiluMul)(a.data(), b.data(), got.data(), 3 * n);
      close(got, want, 1e-6);
    }
    want.assign(a.begin(), a.begin() + n);
    softmax_scalar(want.data(), n);
    for (const Solution* k : runnable_solutions(kSoftmax.name)) {
      SCOPED_TRACE(k->name);
      got.assign(a.begin(), a.begin() + n);
      k->kernel(kSoftmax)(got.data(), n);
      close(got, want, 1e-5);
    }
  }
}

// The MoE combine: every solution gives the reference's bits (products
// rounded, then added in choice order), with and without a shared expert,
// on rows with SIMD tails.
TEST(Ops, MoeCombineVariantsAreBitIdenticalToTheReference) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (const int64_t h : {5, 16, 37, 2048}) {
    const int64_t tokens = 3, top_k = 4, routes = tokens * top_k;
    std::vector<float> y(static_cast<size_t>(routes * h)), weights(static_cast<size_t>(routes)),
        shared(static_cast<size_t>(tokens * h));
    for (auto& v : y) v = normal(rng);
    for (auto& v : weights) v = std::abs(normal(rng));
    for (auto& v : shared) v = normal(rng);
    std::vector<int64_t> rows(static_cast<size_t>(routes));
    for (int64_t i = 0; i < routes; ++i) rows[size_t(i)] = (i * 7) % routes;  // gathered out of order
    for (const float* with_shared : {static_cast<const float*>(nullptr), static_cast<const float*>(shared.data())}) {
      std::vector<float> want(size_t(tokens * h)), got(want.size(), NAN);
      moe_combine_scalar(y.data(), rows.data(), weights.data(), tokens, top_k, h, with_shared, want.data());
      // Spelled out for one element: the products in order, then the shared expert.
      float first = weights[0] * y[size_t(rows[0] * h)];
      for (int64_t j = 1; j < top_k; ++j) first = first + weights[size_t(j)] * y[size_t(rows[size_t(j)] * h)];
      if (with_shared) first += shared[0];
      EXPECT_EQ(want[0], first);
      for (const Solution* k : runnable_solutions(kMoeCombine.name)) {
        SCOPED_TRACE(::testing::Message() << k->name << " h=" << h << " shared=" << (with_shared != nullptr));
        k->kernel(kMoeCombine)(y.data(), rows.data(), weights.data(), tokens, top_k, h, with_shared, got.data());
        for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;
      }
    }
  }
}

// Greedy sampling: every argmax solution picks the first largest value, on
// lengths with and without SIMD tails, with ties across and within lanes,
// NaNs (which never win), all -inf, and a maximum in the tail.
TEST(Ops, ArgmaxVariantsPickTheFirstLargest) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<std::pair<std::vector<float>, int64_t>> cases;
  for (int64_t n : {1, 15, 16, 17, 100, 151936}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = normal(rng);
    int64_t at = int64_t(std::max_element(x.begin(), x.end()) - x.begin());
    cases.push_back({x, at});
    if (n < 17) continue;
    x[size_t(n / 3)] = 50.0f;  // a tie: the lower index wins, whichever lanes hold them
    x[size_t(n / 2)] = 50.0f;
    if (n / 2 + 16 < n) x[size_t(n / 2 + 16)] = 50.0f;  // n = 17 has no room for it
    cases.push_back({x, n / 3});
    x[0] = nan;
    x[size_t(n / 3)] = nan;
    cases.push_back({x, n / 2});
    x[size_t(n - 1)] = 60.0f;  // in the tail for every n that is not a multiple of 16
    cases.push_back({x, n - 1});
  }
  cases.push_back({std::vector<float>(40, -inf), 0});
  cases.push_back({std::vector<float>(40, nan), 0});
  std::vector<float> late(40, -inf);
  late[33] = -1e30f;
  cases.push_back({late, 33});
  for (const Solution* k : runnable_solutions(kArgmax.name)) {
    SCOPED_TRACE(k->name);
    for (size_t c = 0; c < cases.size(); ++c) {
      const auto& [x, want] = cases[c];
      EXPECT_EQ(k->kernel(kArgmax)(x.data(), int64_t(x.size())), want) << "case " << c << ", n=" << x.size();
    }
  }
}

TEST(Ops, TopkRouter) {
  const float logits[] = {0, std::log(2.0f), std::log(3.0f), 0};  // probs 1:2:3:1
  int32_t ids[2];
  float w[2];
  topk_router(logits, 4, 2, {}, ids, w);
  EXPECT_EQ(ids[0], 2);
  EXPECT_EQ(ids[1], 1);
  EXPECT_NEAR(w[0], 0.6, 1e-6);
  EXPECT_NEAR(w[1], 0.4, 1e-6);
  topk_router(logits, 4, 2, {.normalize = false}, ids, w);
  EXPECT_NEAR(w[0], 3.0 / 7, 1e-6);
  const float ties[] = {1, 5, 1, 1};
  int32_t tie_ids[3];
  float tie_w[3];
  topk_router(ties, 4, 3, {}, tie_ids, tie_w);
  EXPECT_EQ(tie_ids[0], 1);
  EXPECT_EQ(tie_ids[1], 0);  // ties go to the lower index
  EXPECT_EQ(tie_ids[2], 2);
}

// Sigmoid scores; the bias picks the experts but the weights are the
// unbiased scores (MiniMax-M2, DeepSeek-V3), renormalised, then scaled.
TEST(Ops, TopkRouterSigmoidWithSelectionBias) {
  const float logits[] = {2.0f, 1.0f, 0.0f, -1.0f};
  const float bias[] = {0.0f, 0.0f, 1.0f, 0.0f};  // expert 2 (sigmoid 0.5 + 1) overtakes both in selection
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  int32_t ids[2];
  float w[2];
  topk_router(logits, 4, 2, {.sigmoid = true, .bias = bias}, ids, w);
  EXPECT_EQ(ids[0], 2);
  EXPECT_EQ(ids[1], 0);
  EXPECT_NEAR(w[0], sig(0) / (sig(2) + sig(0)), 1e-6);
  EXPECT_NEAR(w[1], sig(2) / (sig(2) + sig(0)), 1e-6);
  topk_router(logits, 4, 2, {.sigmoid = true, .normalize = false, .scale = 2.5f, .bias = bias}, ids, w);
  EXPECT_NEAR(w[0], 2.5 * sig(0), 1e-6);
  EXPECT_NEAR(w[1], 2.5 * sig(2), 1e-6);
  // Two groups {0,1}, {2,3}: group scores (sum of the best two) pick group 1
  // when only one group may be used, so expert 0 is out despite its score.
  const float grouped[] = {3.0f, -3.0f, 1.0f, 1.0f};
  topk_router(grouped, 4, 2, {.sigmoid = true, .n_group = 2, .topk_group = 1}, ids, w);
  EXPECT_EQ(ids[0], 2);
  EXPECT_EQ(ids[1], 3);
}

TEST(Sampler, GreedyAndFilters) {
  const float logits[] = {0.5f, 3.0f, 2.9f, -1.0f};
  EXPECT_EQ(Sampler({.temperature = 0}).sample(logits, 4), 1);
  // top_k = 1, a tiny top_p, or min_p = 1 leave only the argmax.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Sampler({.top_k = 1, .seed = uint64_t(i)}).sample(logits, 4), 1);
    EXPECT_EQ(Sampler({.top_p = 0.01f, .seed = uint64_t(i)}).sample(logits, 4), 1);
    EXPECT_EQ(Sampler({.min_p = 1.0f, .seed = uint64_t(i)}).sample(logits, 4), 1);
  }
  // top_k = 2 never picks outside the two largest.
  Sampler two({.top_k = 2, .seed = 7});
  for (int i = 0; i < 200; ++i) {
    const int32_t id = two.sample(logits, 4);
    EXPECT_TRUE(id == 1 || id == 2);
  }
}

TEST(Sampler, SeededDrawsAreReproducibleAndFollowTheDistribution) {
  const float logits[] = {0.0f, std::log(2.0f), std::log(5.0f)};  // probs 1:2:5
  Sampler a({.seed = 123}), b({.seed = 123});
  std::map<int32_t, int> counts;
  const int draws = 16000;
  for (int i = 0; i < draws; ++i) {
    const int32_t id = a.sample(logits, 3);
    ASSERT_EQ(id, b.sample(logits, 3));
    ++counts[id];
  }
  EXPECT_NEAR(counts[0] / double(draws), 1 / 8.0, 0.015);
  EXPECT_NEAR(counts[1] / double(draws), 2 / 8.0, 0.015);
  EXPECT_NEAR(counts[2] / double(draws), 5 / 8.0, 0.015);
  const auto p = softmax_probs(logits, 3);
  EXPECT_NEAR(p[2], 5 / 8.0, 1e-6);
  const auto hot = softmax_probs(logits, 3, 2.0f);  // temperature 2: sqrt of ratios
  EXPECT_NEAR(hot[2] / hot[0], std::sqrt(5.0), 1e-5);
}

TEST(Sampler, RejectsBadParameters) {
  EXPECT_THROW(Sampler({.temperature = -1}), Error);
  EXPECT_THROW(Sampler({.top_p = 0}), Error);
  EXPECT_THROW(Sampler({.min_p = 2}), Error);
  EXPECT_THROW(Sampler({.top_k = -3}), Error);
}

}  // namespace
}  // namespace strata
