// INT4 g32: the layout against hand-computed values, every gemm_w4a16_g32
// solution against the scalar reference on awkward shapes, and the
// compressed-tensors / Q4_0 formats (packing, quantization rule, conversion,
// refusal of bad checkpoints).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <cstring>
#include <random>
#include <vector>

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/compressed_tensors.h"
#include "formats/hf_folder.h"
#include "formats/safetensors.h"
#include "model/batch_rows.h"
#include "model/decoder_model.h"
#include "model/kv_cache.h"
#include "tokenizer/tokenizer.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"
#include "kernels/matmul.h"
#include "kernels/weight_blocks.h"

namespace strata {
namespace {

Int4Matrix random_int4(int64_t rows, int64_t cols, Int4ScaleType st, std::mt19937& rng) {
  Int4Matrix m(rows, cols, st);
  std::uniform_int_distribution<int> q(-8, 7);
  std::uniform_real_distribution<float> s(0.001f, 0.1f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) m.set(r, c, q(rng));
    for (int64_t g = 0; g < cols / 32; ++g)
      m.set_scale_bits(r, g, st == Int4ScaleType::F16 ? f32_to_f16(s(rng)) : f32_to_bf16(s(rng)));
  }
  return m;
}

TEST(Int4Layout, CompressedTensorsPackingDecodesAsSpecified) {
  // One row of 32: value j of each int32 in bits [4j, 4j+4), stored as q + 8.
  std::vector<int32_t> packed(4, 0);
  std::vector<int> expect(32);
  for (int c = 0; c < 32; ++c) {
    expect[size_t(c)] = (c * 5) % 16 - 8;
    packed[size_t(c / 8)] |= int32_t(uint32_t(expect[size_t(c)] + 8) << (4 * (c % 8)));
  }
  // Hand-computed: q = -8, -3, 2, 7, -4, 1, 6, -5 -> nibbles 0, 5, 10, 15, 4, 9, 14, 3.
  EXPECT_EQ(uint32_t(packed[0]), 0x3E94FA50u);
  const uint16_t scale = f32_to_bf16(0.5f);
  const Int4Matrix m = Int4Matrix::from_compressed_tensors(packed.data(), &scale, Int4ScaleType::BF16, 1, 32);
  std::vector<float> row(32);
  m.dequantize_row(0, row.data());
  for (int c = 0; c < 32; ++c) {
    EXPECT_EQ(m.quant(0, c), expect[size_t(c)]) << c;
    EXPECT_EQ(row[size_t(c)], 0.5f * float(expect[size_t(c)])) << c;
  }
}

TEST(Int4Layout, Q4_0DecodesLikeDequantizeRow) {
  std::mt19937 rng(7);
  std::vector<uint8_t> q4(size_t(3 * 2 * kQ4_0BlockBytes));
  for (auto& b : q4) b = uint8_t(rng());
  for (int i = 0; i < 6; ++i) {
    const uint16_t d = f32_to_f16(0.01f * float(i + 1));
    std::memcpy(&q4[size_t(i * kQ4_0BlockBytes)], &d, 2);
  }
  const Int4Matrix m = Int4Matrix::from_q4_0(q4.data(), 3, 64);
  for (int r = 0; r < 3; ++r) {
    std::vector<float> want(64), got(64);
    dequantize_row(DType::Q4_0, &q4[size_t(r * 2 * kQ4_0BlockBytes)], 64, want.data());
    m.dequantize_row(r, got.data());
    EXPECT_EQ(want, got) << "row " << r;
  }
}

struct Shape {
  int64_t n, rows, cols;
};

TEST(Int4Gemm, EverySolutionMatchesReference) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::vector<Shape> shapes = {{1, 16, 32},  {1, 37, 96},    {3, 5, 160},   {2, 64, 2048 + 32},
                                     {7, 48, 224}, {13, 33, 768},  {64, 50, 288}, {300, 20, 96},
                                     {1, 768, 2048}, {9, 2048, 64}};
  for (Int4ScaleType st : {Int4ScaleType::F16, Int4ScaleType::BF16}) {
    for (const Shape& s : shapes) {
      SCOPED_TRACE(::testing::Message() << "n=" << s.n << " rows=" << s.rows << " cols=" << s.cols
                                        << " bf16=" << (st == Int4ScaleType::BF16));
      const Int4Matrix w = random_int4(s.rows, s.cols, st, rng);
      std::vector<float> x(size_t(s.n * s.cols));
      for (auto& v : x) v = normal(rng);
      std::vector<float> ref(size_t(s.n * s.rows));
      int4_gemm_scalar(Int4GemmArgs{x.data(), s.n, &w, ref.data()}, 0, w.tiles());
      // Double-precision check of the reference itself.
      for (int64_t t = 0; t < s.n; t += std::max<int64_t>(1, s.n / 3)) {
        for (int64_t r = 0; r < s.rows; r += 7) {
          double want = 0;
          for (int64_t c = 0; c < s.cols; ++c) want += double(x[size_t(t * s.cols + c)]) * w.scale(r, c / 32) * w.quant(r, c);
          EXPECT_NEAR(ref[size_t(t * s.rows + r)], want, 1e-4 * (1 + std::fabs(want)));
        }
      }
      for (const Solution* sol : runnable_solutions(kGemmW4a16G32.name)) {
        SCOPED_TRACE(sol->name);
        const Int4GemmFn fn = sol->kernel(kGemmW4a16G32);
        std::vector<float> y(size_t(s.n * s.rows), NAN);
        // Split the tiles in two calls, as threads do.
        const int64_t mid = w.tiles() / 2;
        fn(Int4GemmArgs{x.data(), s.n, &w, y.data()}, 0, mid);
        fn(Int4GemmArgs{x.data(), s.n, &w, y.data()}, mid, w.tiles());
        if (sol->path == NumericPath::Exact) {
          for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-4 * (1 + std::fabs(ref[i]))) << i;
        } else {
          // W4A8: int8 activations (per-group absmax / 127) cost about 0.5%
          // relative RMS error; allow 2%.
          double err = 0, norm = 0;
          for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_TRUE(std::isfinite(y[i]));
            err += (y[i] - ref[i]) * (y[i] - ref[i]);
            norm += ref[i] * ref[i];
          }
          EXPECT_LT(std::sqrt(err / norm), 0.02);
        }
        // A row's result does not depend on the batch it is in.
        std::vector<float> y1(size_t(s.rows));
        const int64_t last = s.n - 1;
        fn(Int4GemmArgs{x.data() + last * s.cols, 1, &w, y1.data()}, 0, w.tiles());
        for (int64_t r = 0; r < s.rows; ++r) ASSERT_EQ(y1[size_t(r)], y[size_t(last * s.rows + r)]) << r;
      }
    }
  }
}

// The w4a8 numerics spelled out: Q8_0 activations (quantize_activations_q8),
// per row and group the exact integer dot product with the quants, then
// acc = fma(dot, scale * d, acc) in group order.
std::vector<float> w4a8_reference(const std::vector<float>& x, int64_t n, const Int4Matrix& w) {
  std::vector<int8_t> q(size_t(w.cols()));
  std::vector<float> d(size_t(w.groups()));
  std::vector<int32_t> qsum(size_t(w.groups()));
  std::vector<float> y(size_t(n * w.rows()));
  for (int64_t t = 0; t < n; ++t) {
    quantize_activations_q8(x.data() + t * w.cols(), w.cols(), q.data(), d.data(), qsum.data());
    for (int64_t r = 0; r < w.rows(); ++r) {
      float acc = 0;
      for (int64_t g = 0; g < w.groups(); ++g) {
        int32_t dot = 0;
        for (int64_t c = g * 32; c < (g + 1) * 32; ++c) dot += w.quant(r, c) * q[size_t(c)];
        acc = std::fma(float(dot), w.scale(r, g) * d[size_t(g)], acc);
      }
      y[size_t(t * w.rows() + r)] = acc;
    }
  }
  return y;
}

// So the AVX2 and the AVX-512 VNNI w4a8 solutions agree bit for bit, and a
// model gives the same tokens whichever of them the CPU runs.
TEST(Int4Gemm, W4A8SolutionsAreBitIdenticalToTheQ8_0Reference) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // Token blocks of every size straight from the matrix (32 tokens: 12, 12
  // and 8; 22, 23 and 30 end in 10, 11 and 6), 13 tokens over 7 tiles per
  // call (the first block prefetches the tiles 4 ahead), and 6-token blocks
  // against tile pairs of the panel (140 tokens, 64 rows).
  const std::vector<Shape> shapes = {{1, 16, 32},    {1, 37, 96},  {3, 5, 160},   {5, 48, 2048 + 32},
                                     {9, 33, 768},   {32, 40, 256}, {22, 40, 64},  {23, 40, 64},
                                     {30, 40, 64},   {13, 224, 64}, {140, 64, 96}, {300, 20, 96},
                                     {1, 768, 2048}};
  for (Int4ScaleType st : {Int4ScaleType::F16, Int4ScaleType::BF16}) {
    for (const Shape& s : shapes) {
      SCOPED_TRACE(::testing::Message() << "n=" << s.n << " rows=" << s.rows << " cols=" << s.cols
                                        << " bf16=" << (st == Int4ScaleType::BF16));
      Int4Matrix w = random_int4(s.rows, s.cols, st, rng);
      std::vector<float> x(size_t(s.n * s.cols));
      for (auto& v : x) v = normal(rng);
      // Edge groups in token 0: all zero (scale 0), and one at the int16
      // limit of the AVX2 sums (q = 7 times q8 = 127 over all 32 columns).
      std::fill(x.begin(), x.begin() + 32, 0.0f);
      if (s.cols >= 64) {
        std::fill(x.begin() + 32, x.begin() + 64, 3.0f);
        for (int64_t c = 32; c < 64; ++c) w.set(0, c, 7);
      }
      const std::vector<float> ref = w4a8_reference(x, s.n, w);
      int checked = 0;
      for (const Solution* sol : runnable_solutions(kGemmW4a16G32.name)) {
        if (sol->path != NumericPath::W4A8) continue;
        SCOPED_TRACE(sol->name);
        const Int4GemmFn fn = sol->kernel(kGemmW4a16G32);
        std::vector<float> y(size_t(s.n * s.rows), NAN);
        const int64_t mid = w.tiles() / 2;
        fn(Int4GemmArgs{x.data(), s.n, &w, y.data()}, 0, mid);
        fn(Int4GemmArgs{x.data(), s.n, &w, y.data()}, mid, w.tiles());
        for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], ref[i]) << i;
        ++checked;
      }
      // This machine's CPU runs both (AVX2 and AVX-512 VNNI); elsewhere fewer.
      EXPECT_GE(checked, isa_supported(Isa::Avx2) ? 1 : 0);
    }
  }
}

// The registry reads STRATA_KERNEL_ISA and STRATA_INT4_PATH once per process,
// so each case runs in a child: "threadsafe" death tests re-execute the
// binary.
[[noreturn]] void print_selection_and_exit(const char* isa, const char* path) {
  setenv("STRATA_KERNEL_ISA", isa, 1);
  setenv("STRATA_INT4_PATH", path, 1);
  try {
    std::fprintf(stderr, "selected %s\n", std::string(select(kGemmW4a16G32.name).name).c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "error %s\n", e.what());
  }
  std::exit(0);
}

TEST(Int4GemmDeathTest, SelectionFollowsPathAndIsaCap) {
  if (!isa_supported(Isa::Avx2)) GTEST_SKIP() << "no AVX2";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  using ::testing::ExitedWithCode;
  EXPECT_EXIT(print_selection_and_exit("avx2", "w4a8"), ExitedWithCode(0), "selected int4_gemm_avx2_w4a8\n");
  EXPECT_EXIT(print_selection_and_exit("avx2", "exact"), ExitedWithCode(0), "selected int4_gemm_avx2\n");
  EXPECT_EXIT(print_selection_and_exit("avx2", ""), ExitedWithCode(0), "selected int4_gemm_avx2_w4a8\n");
  EXPECT_EXIT(print_selection_and_exit("scalar", ""), ExitedWithCode(0), "selected int4_gemm_scalar\n");
  // An asked-for path is required: other numerics are not silently taken.
  EXPECT_EXIT(print_selection_and_exit("scalar", "w4a8"), ExitedWithCode(0),
              "error gemm_w4a16_g32: no solution on path w4a8 runs .*STRATA_INT4_PATH");
  EXPECT_EXIT(print_selection_and_exit("avx2", "int8"), ExitedWithCode(0),
              "error STRATA_INT4_PATH: unknown value 'int8' \\(expected w4a8 or exact\\)");
  if (isa_supported(Isa::Avx512)) {
    EXPECT_EXIT(print_selection_and_exit("avx512", "exact"), ExitedWithCode(0), "selected int4_gemm_avx512\n");
  }
  if (isa_supported(Isa::Avx512) && cpu_has({.vnni = true})) {
    EXPECT_EXIT(print_selection_and_exit("avx512", ""), ExitedWithCode(0), "selected int4_gemm_avx512_vnni_w4a8\n");
  }
}

// select_path switches the model's path in process (what tests and
// benchmarks comparing the two use) and keeps the requirement rule.
TEST(Int4Gemm, SelectPathSwitchesAndRestores) {
  const std::string_view before = select(kGemmW4a16G32.name).name;
  select_path(kGemmW4a16G32.name, NumericPath::Exact);
  EXPECT_EQ(select(kGemmW4a16G32.name).path, NumericPath::Exact);
  EXPECT_THROW(select_path(kGemmW4a16G32.name, NumericPath::Bf16Dot), Error);
  if (isa_supported(Isa::Avx2) && max_isa() >= Isa::Avx2) {
    select_path(kGemmW4a16G32.name, NumericPath::W4A8);
    EXPECT_EQ(select(kGemmW4a16G32.name).path, NumericPath::W4A8);
  }
  force_solution(kGemmW4a16G32.name, before);
  EXPECT_EQ(select(kGemmW4a16G32.name).name, before);
}

// A MoE layer quantizes its input once and hands the int8 rows to every
// expert (int4_gemm_rows_q8), and a parallel call quantizes once for all its
// threads (int4_gemm, int4_gemm_q8): the same bits as each call quantizing
// f32 rows itself, for tokens taken from the middle of the quantized buffer
// too. On
// the exact path the quantized form is not taken, and is refused.
TEST(Int4Gemm, QuantizedOnceInputGivesTheSameRowsAsF32Input) {
  const std::string_view before = select(kGemmW4a16G32.name).name;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 40, first = 7, m = 29, cols = 768 + 64, rows = 80;  // 26 groups: 16 + 10
  Int4Matrix w = random_int4(rows, cols, Int4ScaleType::F16, rng);
  std::vector<float> x(size_t(n * cols));
  for (auto& v : x) v = normal(rng);
  std::fill(x.begin() + first * cols, x.begin() + first * cols + 32, 0.0f);  // an all-zero group
  const int64_t groups = cols / 32;
  // Copied out: the buffers are the thread's, and int4_gemm below reuses them.
  const QuantizedActivations quantized = int4_quantize_input(x.data(), n, cols);
  const std::vector<int8_t> q(quantized.q, quantized.q + n * cols);
  const std::vector<float> d(quantized.d, quantized.d + n * groups);
  const std::vector<int32_t> qsum(quantized.qsum, quantized.qsum + n * groups);
  ASSERT_EQ(quantized.cols, cols);
  ASSERT_EQ(quantized.groups, groups);
  for (int64_t t = 0; t < n; ++t) {  // the same as the reference quantizer, token by token
    std::vector<int8_t> q1(static_cast<size_t>(cols));
    std::vector<float> d1(static_cast<size_t>(groups));
    std::vector<int32_t> s1(static_cast<size_t>(groups));
    quantize_activations_q8(&x[size_t(t * cols)], cols, q1.data(), d1.data(), s1.data());
    ASSERT_EQ(0, std::memcmp(q1.data(), &q[size_t(t * cols)], size_t(cols))) << t;
    ASSERT_EQ(0, std::memcmp(d1.data(), &d[size_t(t * groups)], size_t(groups) * 4)) << t;
    ASSERT_EQ(0, std::memcmp(s1.data(), &qsum[size_t(t * groups)], size_t(groups) * 4)) << t;
  }
  const QuantizedActivations all{q.data(), d.data(), qsum.data(), cols, groups};
  int checked = 0;
  for (const Solution* sol : runnable_solutions(kGemmW4a16G32.name)) {
    if (sol->path != NumericPath::W4A8) continue;
    force_solution(kGemmW4a16G32.name, sol->name);
    ASSERT_TRUE(int4_gemm_runs_w4a8(w)) << sol->name;
    std::vector<float> want(size_t(m * rows), -1.0f), got(size_t(m * rows), -2.0f);
    int4_gemm_rows(&x[size_t(first * cols)], m, w, want.data(), 16, 64);
    int4_gemm_rows_q8(all.token(first), m, w, got.data(), 16, 64);
    for (int64_t t = 0; t < m; ++t)
      for (int64_t r = 16; r < 64; ++r)
        ASSERT_EQ(want[size_t(t * rows + r)], got[size_t(t * rows + r)]) << sol->name << " token " << t << " row " << r;
    // The parallel forms, which quantize once for all threads.
    std::vector<float> whole(size_t(m * rows), -3.0f), whole_q8(size_t(m * rows), -4.0f);
    int4_gemm(&x[size_t(first * cols)], m, w, whole.data());
    int4_gemm_q8(all.token(first), m, w, whole_q8.data());
    for (int64_t t = 0; t < m; ++t)
      for (int64_t r = 16; r < 64; ++r) {
        ASSERT_EQ(want[size_t(t * rows + r)], whole[size_t(t * rows + r)]) << sol->name << " token " << t << " row " << r;
        ASSERT_EQ(want[size_t(t * rows + r)], whole_q8[size_t(t * rows + r)]) << sol->name << " token " << t << " row " << r;
      }
    ++checked;
  }
  if (isa_supported(Isa::Avx2) && max_isa() >= Isa::Avx2) EXPECT_GT(checked, 0);
  select_path(kGemmW4a16G32.name, NumericPath::Exact);
  EXPECT_FALSE(int4_gemm_runs_w4a8(w));
  std::vector<float> y(size_t(m * rows));
  EXPECT_THROW(int4_gemm_rows_q8(all.token(first), m, w, y.data(), 0, rows), Error);
  force_solution(kGemmW4a16G32.name, before);
}

TEST(CompressedTensors, QuantizationRuleIsAbsmaxOver7_5WithRoundToNearest) {
  // A group whose max |w| is 7.5: scale 1, so w rounds to the nearest integer,
  // clamped to [-8, 7] (7.5 itself -> 7, -7.5 -> -8 under round-half-even).
  std::vector<float> w(32, 0.0f);
  w[0] = 7.5f, w[1] = -7.5f, w[2] = 2.4f, w[3] = -2.6f, w[4] = 0.5f, w[5] = 1.5f;
  std::vector<int32_t> packed(4);
  uint16_t scale;
  quantize_int4_g32(w.data(), 1, 32, packed.data(), &scale);
  EXPECT_EQ(bf16_to_f32(scale), 1.0f);
  const Int4Matrix m = Int4Matrix::from_compressed_tensors(packed.data(), &scale, Int4ScaleType::BF16, 1, 32);
  const int want[6] = {7, -8, 2, -3, 0, 2};
  for (int c = 0; c < 6; ++c) EXPECT_EQ(m.quant(0, c), want[c]) << c;
}

TEST(CompressedTensors, ConversionToQ4_0IsExactAndComputesIdentically) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  const int64_t rows = 40, cols = 160;
  std::vector<float> w(size_t(rows * cols));
  for (auto& v : w) v = normal(rng);
  std::vector<int32_t> packed(size_t(rows * cols / 8));
  std::vector<uint16_t> scales(size_t(rows * cols / 32));
  quantize_int4_g32(w.data(), rows, cols, packed.data(), scales.data());
  std::vector<uint8_t> q4(size_t(rows * cols / 32 * kQ4_0BlockBytes));
  ASSERT_TRUE(compressed_int4_to_q4_0(packed.data(), scales.data(), rows, cols, q4.data()));
  const Int4Matrix ct = Int4Matrix::from_compressed_tensors(packed.data(), scales.data(), Int4ScaleType::BF16, rows, cols);
  const Int4Matrix gg = Int4Matrix::from_q4_0(q4.data(), rows, cols);
  double err = 0, norm = 0;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
    ct.dequantize_row(r, a.data());
    gg.dequantize_row(r, b.data());
    ASSERT_EQ(a, b) << "row " << r;
    for (int64_t c = 0; c < cols; ++c) {
      err += std::pow(a[size_t(c)] - w[size_t(r * cols + c)], 2);
      norm += std::pow(w[size_t(r * cols + c)], 2);
    }
  }
  EXPECT_LT(std::sqrt(err / norm), 0.15);  // ~0.1 for Gaussian weights at 4 bits
  // Same values, same kernels: bitwise identical outputs on every path.
  std::vector<float> x(size_t(5 * cols));
  for (auto& v : x) v = normal(rng);
  for (const Solution* sol : runnable_solutions(kGemmW4a16G32.name)) {
    const Int4GemmFn fn = sol->kernel(kGemmW4a16G32);
    std::vector<float> ya(size_t(5 * rows)), yb(size_t(5 * rows));
    fn(Int4GemmArgs{x.data(), 5, &ct, ya.data()}, 0, ct.tiles());
    fn(Int4GemmArgs{x.data(), 5, &gg, yb.data()}, 0, gg.tiles());
    EXPECT_EQ(ya, yb) << sol->name;
  }
  // A scale below f16's normal range is not exact.
  scales[0] = f32_to_bf16(1e-7f);
  EXPECT_FALSE(compressed_int4_to_q4_0(packed.data(), scales.data(), rows, cols, q4.data()));
}

TEST(CompressedTensors, ConfigTargetsAndIgnore) {
  const auto cfg = CompressedTensorsConfig::from_hf(
      nlohmann::json::parse(R"({"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized",
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int",
        "symmetric": true, "strategy": "group", "group_size": 32, "dynamic": false}, "input_activations": null}},
        "ignore": ["lm_head", "re:.*self_attn.*", "re:.*mlp\\.gate$"]}})"),
      "config.json");
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(cfg->quantizes("model.layers.0.mlp.experts.3.up_proj"));
  EXPECT_FALSE(cfg->quantizes("lm_head"));
  EXPECT_FALSE(cfg->quantizes("model.layers.1.self_attn.q_proj"));
  EXPECT_FALSE(cfg->quantizes("model.layers.1.mlp.gate"));
  EXPECT_TRUE(cfg->quantizes("model.layers.1.mlp.gate_proj"));
  nlohmann::json bad = {{"quantization_config", cfg->to_json()}};
  bad["quantization_config"]["config_groups"]["group_0"]["weights"]["group_size"] = 128;
  try {
    CompressedTensorsConfig::from_hf(bad, "config.json");
    FAIL() << "group size 128 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("group_size"), std::string::npos) << e.what();
  }
}

// Fuzzing found libstdc++'s regex compiler overflowing a long on a
// back-reference of 19+ digits (undefined behaviour); back-references and
// repeat counts over 6 digits are refused before std::regex sees them, while
// escaped digits and braces, and ordinary counts, still work.
TEST(CompressedTensors, PatternsStdRegexMishandlesAreRefused) {
  auto config_with_ignore = [](const std::string& pattern) {
    return nlohmann::json{{"quantization_config", CompressedTensorsConfig{{"Linear"}, {pattern}}.to_json()}};
  };
  for (const std::string& pattern : {"re:a\\5555555555555555555555", "re:(a)\\1", "re:x{1,12345678}",
                                     "re:x{1234567}"}) {
    try {
      CompressedTensorsConfig::from_hf(config_with_ignore(pattern), "config.json");
      FAIL() << pattern << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("quantization_config.ignore: regex"), std::string::npos) << e.what();
    }
  }
  const auto cfg = CompressedTensorsConfig::from_hf(config_with_ignore("re:.*layers\\.1{1,3}\\{2\\}\\.\\d"), "config.json");
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(cfg->quantizes("model.layers.11{2}.5"));
  EXPECT_TRUE(cfg->quantizes("model.layers.2.mlp"));
}

// A tiny Qwen3-MoE HF folder whose routed experts are compressed-tensors INT4.
namespace fs = std::filesystem;
struct TinyCtModel {
  ModelConfig c;
  fs::path dir;
  explicit TinyCtModel(const std::string& name) {
    c.architecture = "qwen3_moe";
    c.vocab_size = 64, c.hidden_size = 64, c.num_hidden_layers = 1, c.num_attention_heads = 2,
    c.num_key_value_heads = 1, c.head_dim = 32, c.intermediate_size = 96, c.moe_intermediate_size = 96,
    c.num_experts = 4, c.num_experts_per_tok = 2;
    dir = fs::temp_directory_path() / ("strata_test_int4_" + name + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~TinyCtModel() { fs::remove_all(dir); }
  // `tamper` may change one tensor's bytes before writing.
  void write(const std::function<void(const std::string&, std::vector<uint8_t>&)>& tamper = {}) {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 0.1f);
    CompressedTensorsConfig q{{"re:.*mlp\\.experts.*"}, {}};
    nlohmann::json config = c.to_hf();
    config["quantization_config"] = q.to_json();
    std::ofstream(dir / "config.json") << config.dump(2);
    std::map<std::string, std::pair<std::vector<int64_t>, std::pair<DType, std::vector<uint8_t>>>> t;
    auto dense = [&](const std::string& name, std::vector<int64_t> shape, bool ones = false) {
      int64_t n = 1;
      for (auto d : shape) n *= d;
      std::vector<uint8_t> bytes(size_t(n) * 4);
      for (int64_t i = 0; i < n; ++i) {
        const float v = ones ? 1.0f : normal(rng);
        std::memcpy(&bytes[size_t(i) * 4], &v, 4);
      }
      t[name] = {shape, {DType::F32, bytes}};
    };
    const int64_t h = c.hidden_size, f = c.moe_intermediate_size;
    dense("model.embed_tokens.weight", {c.vocab_size, h});
    dense("lm_head.weight", {c.vocab_size, h});
    dense("model.norm.weight", {h}, true);
    const std::string l = "model.layers.0.";
    dense(l + "input_layernorm.weight", {h}, true);
    dense(l + "post_attention_layernorm.weight", {h}, true);
    dense(l + "self_attn.q_norm.weight", {c.head_dim}, true);
    dense(l + "self_attn.k_norm.weight", {c.head_dim}, true);
    dense(l + "self_attn.q_proj.weight", {64, h});
    dense(l + "self_attn.k_proj.weight", {32, h});
    dense(l + "self_attn.v_proj.weight", {32, h});
    dense(l + "self_attn.o_proj.weight", {h, 64});
    dense(l + "mlp.gate.weight", {c.num_experts, h});
    for (int e = 0; e < c.num_experts; ++e) {
      for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
        const std::string m = l + "mlp.experts." + std::to_string(e) + "." + proj;
        const int64_t rows = std::string(proj) == "down_proj" ? h : f, cols = rows == h ? f : h;
        std::vector<float> w(size_t(rows * cols));
        for (auto& v : w) v = normal(rng);
        std::vector<uint8_t> packed(size_t(rows * cols / 2)), scales(size_t(rows * cols / 16));
        quantize_int4_g32(w.data(), rows, cols, reinterpret_cast<int32_t*>(packed.data()),
                          reinterpret_cast<uint16_t*>(scales.data()));
        std::vector<uint8_t> shape(16);
        const int64_t dims[2] = {rows, cols};
        std::memcpy(shape.data(), dims, 16);
        t[m + ".weight_packed"] = {{rows, cols / 8}, {DType::I32, packed}};
        t[m + ".weight_scale"] = {{rows, cols / 32}, {DType::BF16, scales}};
        t[m + ".weight_shape"] = {{2}, {DType::I64, shape}};
      }
    }
    SafetensorsWriter out((dir / "model.safetensors").string());
    for (auto& [name, v] : t) out.add_tensor(name, v.second.first, v.first);
    for (auto& [name, v] : t) {
      if (tamper) tamper(name, v.second.second);
      out.write_data(v.second.second.data(), v.second.second.size());
    }
    out.finish();
  }
  std::unique_ptr<DecoderModel> load() const {
    auto folder = std::make_unique<HFFolder>(dir.string());
    const auto q = CompressedTensorsConfig::from_hf(folder->config(), "config.json");
    const ModelConfig cfg = ModelConfig::from_hf(folder->config(), "config.json");
    return std::make_unique<DecoderModel>(cfg, std::move(folder), nullptr, q ? &*q : nullptr);
  }
};

// The forward pass runs the INT4 experts: every token routes to 2 of the 4,
// and the layer changes the hidden states.
TEST(CompressedTensors, ModelLoadsInt4ExpertsAndRuns) {
  TinyCtModel m("ok");
  m.write();
  const auto model = m.load();
  const int32_t tokens[3] = {1, 5, 9};
  const int32_t positions[3] = {0, 1, 2}, slots[3] = {0, 0, 0};
  std::vector<float> hidden(size_t(3 * m.c.hidden_size)), logits(size_t(3 * m.c.vocab_size));
  model->embed(tokens, 3, hidden.data());
  const std::vector<float> embedded = hidden;
  ContiguousKVCache kv(m.c, 1, 3);
  ForwardStats stats;
  BatchRows rows{3, positions, slots};
  rows.stats = &stats;
  model->forward(rows, 0, m.c.num_hidden_layers, hidden.data(), kv);
  EXPECT_EQ(stats.moe_calls, 1);
  EXPECT_GE(stats.experts_touched, 2);
  EXPECT_GT(stats.expert_bytes, 0);
  EXPECT_NE(hidden, embedded);
  model->logits(hidden.data(), 3, logits.data());
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

TEST(CompressedTensors, BadCheckpointsAreRefusedNamingTheTensor) {
  const std::string victim = "model.layers.0.mlp.experts.2.up_proj";
  auto expect_refused = [&](const char* what, const std::function<void(std::vector<uint8_t>&)>& change,
                            const std::string& suffix) {
    TinyCtModel m(what);
    m.write([&](const std::string& name, std::vector<uint8_t>& bytes) {
      if (name == victim + suffix) change(bytes);
    });
    try {
      m.load();
      ADD_FAILURE() << what << ": accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(victim), std::string::npos) << what << ": " << e.what();
    }
  };
  expect_refused("shape", [](std::vector<uint8_t>& b) { b[0] ^= 1; }, ".weight_shape");
  expect_refused("nan", [](std::vector<uint8_t>& b) { b[6] = 0xc0, b[7] = 0x7f; }, ".weight_scale");
}

}  // namespace
}  // namespace strata
