// FP8 block-scaled weights: e4m3 decoding of every code against a definition
// computed here from the bits, every gemm_fp8_e4m3_block128 solution against
// a double reference on shapes with partial blocks, batch invariance, the
// quantization_config parser, a safetensors round trip through
// load_fp8_block, and refusal of bad scales naming the tensor.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/fp8_block.h"
#include "formats/safetensors.h"
#include "kernels/fp8_gemm.h"
#include "workbench/dataset.h"
#include "kernels/fp8_matrix.h"
#include "kernels/matmul.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

// float8_e4m3fn from its definition: sign, 4 exponent bits with bias 7, 3
// mantissa bits; exponent 0 is subnormal (no implicit 1, exponent 1 - 7);
// S.1111.111 is NaN and there are no infinities.
double e4m3_definition(int code) {
  const int sign = code >> 7, exp = (code >> 3) & 15, man = code & 7;
  if (exp == 15 && man == 7) return std::numeric_limits<double>::quiet_NaN();
  const double mag = exp == 0 ? (man / 8.0) * std::pow(2.0, 1 - 7) : (1 + man / 8.0) * std::pow(2.0, exp - 7);
  return sign ? -mag : mag;
}

bool same_value(double want, float got) {
  if (std::isnan(want)) return std::isnan(got);
  return double(got) == want && std::signbit(got) == std::signbit(want);
}

// The solutions this CPU runs, each as its name and function.
struct Fp8Kernel {
  std::string_view name;
  Fp8GemmFn fn;
};
std::vector<Fp8Kernel> supported_kernels() {
  std::vector<Fp8Kernel> out;
  for (const Solution* s : runnable_solutions(kGemmFp8E4m3Block128.name))
    out.push_back({s->name, s->kernel(kGemmFp8E4m3Block128)});
  return out;
}

TEST(Fp8Decode, EveryCodeMatchesTheDefinition) {
  for (int code = 0; code < 256; ++code) {
    const double want = e4m3_definition(code);
    EXPECT_TRUE(same_value(want, fp8_e4m3_to_f32(uint8_t(code)))) << "code " << code;
    EXPECT_TRUE(same_value(want, fp8_e4m3_table()[code])) << "code " << code;
  }
  EXPECT_EQ(fp8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0xfe), -448.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(fp8_e4m3_to_f32(0x07), 7 * std::ldexp(1.0f, -9));  // largest subnormal
  EXPECT_EQ(fp8_e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(0x7f)) && std::isnan(fp8_e4m3_to_f32(0xff)));
  EXPECT_TRUE(std::signbit(fp8_e4m3_to_f32(0x80)));
}

// Every solution decodes every code: a 256 x 1 matrix (row r holds code r,
// two row blocks, a one-column partial block) times x = [1].
TEST(Fp8Decode, EverySolutionDecodesEveryCode) {
  std::vector<uint8_t> codes(256);
  for (int i = 0; i < 256; ++i) codes[size_t(i)] = uint8_t(i);
  const Fp8Matrix w(codes.data(), 256, 1, {1.0f, 0.5f});
  const float x = 1.0f;
  for (const Fp8Kernel& k : supported_kernels()) {
    std::vector<float> y(256);
    k.fn(Fp8GemmArgs{&x, 1, &w, y.data()}, 0, 256);
    for (int code = 0; code < 256; ++code) {
      // A dot product starts from +0, so -0 (0x80) comes out as +0.
      const double want = e4m3_definition(code) * (code < 128 ? 1.0 : 0.5);
      EXPECT_TRUE(std::isnan(want) ? std::isnan(y[size_t(code)]) : double(y[size_t(code)]) == want)
          << k.name << " code " << code << " gave " << y[size_t(code)];
    }
  }
}

TEST(Fp8Encode, RoundsToNearestEvenAndSaturates) {
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7f) == 0x7f) continue;
    EXPECT_EQ(f32_to_fp8_e4m3(fp8_e4m3_to_f32(uint8_t(code))), code) << "code " << code;
  }
  const float sub = std::ldexp(1.0f, -9);
  EXPECT_EQ(f32_to_fp8_e4m3(0.5f * sub), 0x00);  // tie: to even (zero)
  EXPECT_EQ(f32_to_fp8_e4m3(1.5f * sub), 0x02);  // tie: to even (2)
  EXPECT_EQ(f32_to_fp8_e4m3(1.0625f), 0x38);     // 1 + 1/16: tie between 1 and 1.125, to even
  EXPECT_EQ(f32_to_fp8_e4m3(1.07f), 0x39);
  EXPECT_EQ(f32_to_fp8_e4m3(7.75f * std::ldexp(1.0f, -9)), 0x08);  // rounds up into the normal range
  EXPECT_EQ(f32_to_fp8_e4m3(447.0f), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(1e9f), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(-1e9f), 0xfe);
  EXPECT_EQ(f32_to_fp8_e4m3(std::numeric_limits<float>::infinity()), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(std::nanf("")) & 0x7f, 0x7f);
}

// Random finite codes and scales over [rows, cols].
struct RandomFp8 {
  std::vector<uint8_t> codes;
  Fp8Matrix m;
  RandomFp8(int64_t rows, int64_t cols, std::mt19937& rng) : codes(make_codes(rows, cols, rng)), m(codes.data(), rows, cols, make_scales(rows, cols, rng)) {}
  static std::vector<uint8_t> make_codes(int64_t rows, int64_t cols, std::mt19937& rng) {
    std::vector<uint8_t> c(size_t(rows * cols));
    for (auto& v : c) {
      do v = uint8_t(rng()); while ((v & 0x7f) == 0x7f);
    }
    return c;
  }
  static std::vector<float> make_scales(int64_t rows, int64_t cols, std::mt19937& rng) {
    std::uniform_real_distribution<float> s(1e-3f, 1e-1f);
    std::vector<float> out(size_t((rows + 127) / 128 * ((cols + 127) / 128)));
    for (auto& v : out) v = s(rng);
    return out;
  }
};

std::vector<float> random_x(int64_t n, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(size_t(n * cols));
  for (auto& v : x) v = d(rng);
  return x;
}

TEST(Fp8Gemm, EverySolutionMatchesADoubleReference) {
  std::mt19937 rng(3);
  const int64_t shapes[][2] = {{1, 1}, {17, 100}, {130, 257}, {129, 128}, {200, 389}, {64, 1000}};
  for (const auto& [rows, cols] : shapes) {
    RandomFp8 w(rows, cols, rng);
    for (int64_t n : {1, 2, 3, 4, 5, 9}) {
      const std::vector<float> x = random_x(n, cols, rng);
      std::vector<double> want(size_t(n * rows)), bound(size_t(n * rows));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          double sum = 0, abs = 0;
          for (int64_t c = 0; c < cols; ++c) {
            const double p = double(x[size_t(t * cols + c)]) * double(w.m.weight(r, c));
            sum += p, abs += std::fabs(p);
          }
          want[size_t(t * rows + r)] = sum;
          // f32 accumulation over `cols` terms: a few ulps of the absolute sum per term.
          bound[size_t(t * rows + r)] = double(cols) * 1.2e-7 * abs + 1e-30;
        }
      for (const Fp8Kernel& k : supported_kernels()) {
        std::vector<float> y(size_t(n * rows), -1.0f);
        k.fn(Fp8GemmArgs{x.data(), n, &w.m, y.data()}, 0, rows);
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_NEAR(y[i], want[i], bound[i]) << k.name << " [" << rows << ", " << cols << "] n " << n << " at " << i;
        }
      }
    }
  }
}

// matmul, matmul_serial and matmul_rows on WeightMatrix::of(Fp8Matrix) give
// exactly the selected solution's result; a row's result is the same alone
// as in any batch, and in any row range.
TEST(Fp8Gemm, MatmulEntryPointsAndBatchInvariance) {
  std::mt19937 rng(5);
  const int64_t rows = 150, cols = 300, n = 13;
  RandomFp8 w(rows, cols, rng);
  const std::vector<float> x = random_x(n, cols, rng);
  const WeightMatrix wm = WeightMatrix::of(w.m);
  EXPECT_EQ(wm.stored_bytes(), size_t(rows * cols + 2 * 3 * 4));
  std::vector<float> batch(size_t(n * rows)), serial(batch.size()), ranged(batch.size());
  matmul(x.data(), n, wm, batch.data());
  matmul_serial(x.data(), n, wm, serial.data());
  matmul_rows(x.data(), n, wm, ranged.data(), 0, 32);
  matmul_rows(x.data(), n, wm, ranged.data(), 32, rows);
  EXPECT_EQ(batch, serial);
  EXPECT_EQ(batch, ranged);
  std::vector<float> direct(batch.size());
  select(kGemmFp8E4m3Block128.name).kernel(kGemmFp8E4m3Block128)(Fp8GemmArgs{x.data(), n, &w.m, direct.data()}, 0, rows);
  EXPECT_EQ(batch, direct);
  for (const Fp8Kernel& k : supported_kernels()) {
    std::vector<float> all(size_t(n * rows));
    k.fn(Fp8GemmArgs{x.data(), n, &w.m, all.data()}, 0, rows);
    for (int64_t size : {1, 2, 3, 4, 5, 8}) {
      for (int64_t t0 = 0; t0 + size <= n; t0 += size) {
        std::vector<float> part(size_t(size * rows));
        k.fn(Fp8GemmArgs{x.data() + t0 * cols, size, &w.m, part.data()}, 0, rows);
        for (int64_t i = 0; i < size * rows; ++i) {
          ASSERT_EQ(part[size_t(i)], all[size_t(t0 * rows + i)]) << k.name << " batch of " << size << " at token " << t0;
        }
      }
    }
    std::vector<float> rows_17_to_40(size_t(n * rows), 0.0f);
    k.fn(Fp8GemmArgs{x.data(), n, &w.m, rows_17_to_40.data()}, 17, 40);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 17; r < 40; ++r) ASSERT_EQ(rows_17_to_40[size_t(t * rows + r)], all[size_t(t * rows + r)]) << k.name;
  }
}

TEST(Fp8Gemm, NanCodesPropagateInEverySolution) {
  std::mt19937 rng(7);
  RandomFp8 w(20, 200, rng);
  w.codes[3 * 200 + 150] = 0xff;
  const std::vector<float> x = random_x(5, 200, rng);
  for (const Fp8Kernel& k : supported_kernels()) {
    for (int64_t n : {1, 5}) {
      std::vector<float> y(size_t(n * 20));
      k.fn(Fp8GemmArgs{x.data(), n, &w.m, y.data()}, 0, 20);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < 20; ++r) EXPECT_EQ(std::isnan(y[size_t(t * 20 + r)]), r == 3) << k.name << " n " << n;
    }
  }
}

// The dataset's FP8 GEMM definitions (one per MiniMax-M2 expert shape) name
// this kernel definition, whose solutions are the scalar reference and AVX-512.
TEST(Fp8Gemm, DefinitionFilesNameTheSolutions) {
  const std::string_view def = kGemmFp8E4m3Block128.name;
  int files = 0;
  for (const Definition& d : load_dataset(std::string(STRATA_SOURCE_DIR) + "/kernels").definitions) {
    if (d.tag("strata_kernel") != std::string(def)) continue;
    ++files;
    EXPECT_TRUE(d.name.starts_with("gemm_fp8_e4m3_block128_n")) << d.name;
    EXPECT_EQ(d.inputs[1].dtype, "float8_e4m3fn") << d.name;
  }
  EXPECT_EQ(files, 2);
  size_t registered = 0;
  for (const Solution& s : all_solutions()) registered += s.definition == def;
  EXPECT_EQ(registered, 2u);
  EXPECT_EQ(runnable_solutions(def).front()->isa, Isa::Scalar);
  EXPECT_EQ(select(def).isa, isa_supported(Isa::Avx512) && max_isa() == Isa::Avx512 ? Isa::Avx512 : Isa::Scalar);
}

nlohmann::json minimax_quant() {
  return {{"activation_scheme", "dynamic"},
          {"fmt", "float8_e4m3fn"},
          {"quant_method", "fp8"},
          {"weight_block_size", {128, 128}},
          {"modules_to_not_convert", {"gate", "e_score_correction_bias", "lm_head"}}};
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " lacks " << n;
  }
}

TEST(Fp8Config, ParsesDeepSeekAndMiniMaxConfigs) {
  const auto mm = Fp8BlockConfig::from_hf({{"quantization_config", minimax_quant()}}, "config.json");
  ASSERT_TRUE(mm);
  EXPECT_FALSE(mm->converts("model.layers.0.block_sparse_moe.gate"));
  EXPECT_FALSE(mm->converts("lm_head"));
  EXPECT_TRUE(mm->converts("model.layers.0.block_sparse_moe.experts.7.w1"));
  EXPECT_TRUE(mm->converts("model.layers.0.mlp.gate_proj"));
  EXPECT_TRUE(mm->converts("model.layers.0.self_attn.q_proj"));
  // DeepSeek-V3: fmt "e4m3", no exclusion list.
  const nlohmann::json ds = {{"quantization_config",
                              {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
                               {"weight_block_size", {128, 128}}}}};
  const auto d = Fp8BlockConfig::from_hf(ds, "config.json");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->not_converted.empty());
  nlohmann::json vllm = ds;
  vllm["quantization_config"]["ignored_layers"] = {"model.layers.0.mlp.gate"};
  EXPECT_FALSE(Fp8BlockConfig::from_hf(vllm, "config.json")->converts("model.layers.0.mlp.gate"));

  EXPECT_FALSE(Fp8BlockConfig::from_hf(nlohmann::json::object(), "config.json"));
  EXPECT_FALSE(Fp8BlockConfig::from_hf({{"quantization_config", {{"quant_method", "compressed-tensors"}}}}, "config.json"));
  auto with = [](const char* key, const nlohmann::json& v) {
    nlohmann::json q = minimax_quant();
    if (v.is_null()) q.erase(key); else q[key] = v;
    return nlohmann::json{{"quantization_config", q}};
  };
  expect_error([&] { Fp8BlockConfig::from_hf(with("weight_block_size", {64, 64}), "cfg.json"); }, {"cfg.json", "weight_block_size", "[64,64]"});
  expect_error([&] { Fp8BlockConfig::from_hf(with("weight_block_size", nullptr), "cfg.json"); }, {"cfg.json", "weight_block_size", "per-tensor"});
  expect_error([&] { Fp8BlockConfig::from_hf(with("fmt", "e5m2"), "cfg.json"); }, {"cfg.json", "fmt", "e5m2"});
  expect_error([&] { Fp8BlockConfig::from_hf(with("activation_scheme", "static"), "cfg.json"); }, {"activation_scheme"});
  expect_error([&] { Fp8BlockConfig::from_hf(with("modules_to_not_convert", "lm_head"), "cfg.json"); }, {"modules_to_not_convert"});
}

// A safetensors file with FP8 modules (F32 and BF16 scales, partial blocks)
// and a BF16 router; `tamper` may replace a tensor's dtype, shape or bytes.
struct Fp8File {
  struct Tensor {
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, Tensor> tensors;
  std::vector<float> w_up;  // the f32 weights quantized into "...experts.0.up"
  fs::path path;

  explicit Fp8File(const std::string& name)
      : path(fs::temp_directory_path() / ("strata_test_fp8_" + name + std::to_string(::getpid()) + ".safetensors")) {
    std::mt19937 rng(13);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    auto fp8 = [&](const std::string& module, int64_t rows, int64_t cols, bool bf16_scales, std::vector<float>* keep) {
      std::vector<float> w(size_t(rows * cols));
      for (auto& v : w) v = normal(rng);
      std::vector<uint8_t> codes(w.size());
      std::vector<float> scales(size_t((rows + 127) / 128 * ((cols + 127) / 128)));
      quantize_fp8_block128(w.data(), rows, cols, codes.data(), scales.data());
      tensors[module + ".weight"] = {DType::F8_E4M3, {rows, cols}, codes};
      std::vector<uint8_t> sb;
      for (float s : scales) {
        if (bf16_scales) {
          const uint16_t h = f32_to_bf16(s);
          sb.insert(sb.end(), reinterpret_cast<const uint8_t*>(&h), reinterpret_cast<const uint8_t*>(&h) + 2);
        } else {
          sb.insert(sb.end(), reinterpret_cast<const uint8_t*>(&s), reinterpret_cast<const uint8_t*>(&s) + 4);
        }
      }
      tensors[module + ".weight_scale_inv"] = {bf16_scales ? DType::BF16 : DType::F32,
                                               {(rows + 127) / 128, (cols + 127) / 128}, sb};
      if (keep) *keep = w;
    };
    fp8("model.layers.0.block_sparse_moe.experts.0.up", 300, 200, false, &w_up);
    fp8("model.layers.0.self_attn.o_proj", 130, 256, true, nullptr);
    std::vector<uint8_t> gate(size_t(8 * 200 * 2), 0);
    tensors["model.layers.0.block_sparse_moe.gate.weight"] = {DType::BF16, {8, 200}, gate};
  }
  ~Fp8File() { fs::remove(path); }
  void write() const {
    SafetensorsWriter out(path.string());
    for (const auto& [name, t] : tensors) out.add_tensor(name, t.dtype, t.shape);
    for (const auto& [name, t] : tensors) out.write_data(t.bytes.data(), t.bytes.size());
    out.finish();
  }
};

const std::string kUp = "model.layers.0.block_sparse_moe.experts.0.up";

TEST(Fp8Checkpoint, SafetensorsRoundTripThroughTheLoader) {
  Fp8File f("roundtrip");
  f.write();
  const SafetensorsFile file(f.path.string());
  EXPECT_EQ(file.get(kUp + ".weight").dtype, DType::F8_E4M3);
  const auto config = Fp8BlockConfig::from_hf({{"quantization_config", minimax_quant()}}, "config.json");
  EXPECT_TRUE(config->quantizes(file, kUp));
  EXPECT_TRUE(config->quantizes(file, "model.layers.0.self_attn.o_proj"));
  EXPECT_FALSE(config->quantizes(file, "model.layers.0.block_sparse_moe.gate"));
  EXPECT_FALSE(config->quantizes(file, "model.layers.0.absent"));

  const Fp8Matrix up = load_fp8_block(file, kUp, 300, 200);
  EXPECT_EQ(up.row(0), file.get(kUp + ".weight").data);  // in place, not copied
  double err = 0, norm = 0;
  const auto& codes = f.tensors.at(kUp + ".weight").bytes;
  const auto& scale_bytes = f.tensors.at(kUp + ".weight_scale_inv").bytes;
  for (int64_t r = 0; r < 300; ++r)
    for (int64_t c = 0; c < 200; ++c) {
      float s;
      std::memcpy(&s, &scale_bytes[size_t((r / 128 * 2 + c / 128) * 4)], 4);
      ASSERT_EQ(up.weight(r, c), float(e4m3_definition(codes[size_t(r * 200 + c)]) * s));
      const double d = up.weight(r, c) - f.w_up[size_t(r * 200 + c)];
      err += d * d, norm += double(f.w_up[size_t(r * 200 + c)]) * f.w_up[size_t(r * 200 + c)];
    }
  // e4m3 keeps 3 mantissa bits: a few percent relative RMS error.
  EXPECT_LT(std::sqrt(err / norm), 0.05);
  EXPECT_GT(std::sqrt(err / norm), 0.005);

  const Fp8Matrix o = load_fp8_block(file, "model.layers.0.self_attn.o_proj", 130, 256);  // BF16 scales
  std::mt19937 rng(1);
  const std::vector<float> x = random_x(3, 256, rng);
  std::vector<float> y(3 * 130), ref(3 * 130);
  matmul(x.data(), 3, WeightMatrix::of(o), y.data());
  fp8_gemm_scalar(Fp8GemmArgs{x.data(), 3, &o, ref.data()}, 0, 130);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-4f);
}

TEST(Fp8Checkpoint, BadScalesAreRefusedNamingTheTensor) {
  const std::string scale = kUp + ".weight_scale_inv";
  auto refused = [&](const char* what, const std::function<void(Fp8File&)>& change, std::vector<std::string> needles,
                     int64_t rows = 300, int64_t cols = 200) {
    SCOPED_TRACE(what);
    Fp8File f(what);
    change(f);
    f.write();
    needles.push_back(f.path.string());
    const SafetensorsFile file(f.path.string());
    expect_error([&] { load_fp8_block(file, kUp, rows, cols); }, needles);
  };
  auto set_scale = [&](float v) {
    return [&, v](Fp8File& f) { std::memcpy(&f.tensors[scale].bytes[4], &v, 4); };
  };
  refused("missing", [&](Fp8File& f) { f.tensors.erase(scale); }, {scale, "missing"});
  refused("shape", [&](Fp8File& f) {
    f.tensors[scale].shape = {2, 1};
    f.tensors[scale].bytes.resize(8);
  }, {scale, "[3, 2]"});
  refused("transposed", [&](Fp8File& f) { f.tensors[scale].shape = {2, 3}; }, {scale, "[3, 2]"});
  refused("dtype", [&](Fp8File& f) { f.tensors[scale].dtype = DType::I32; }, {scale, "I32"});
  refused("nan", set_scale(std::nanf("")), {scale, "nan", "block [0, 1]"});
  refused("inf", set_scale(std::numeric_limits<float>::infinity()), {scale, "inf"});
  refused("zero", set_scale(0.0f), {scale, "block [0, 1]"});
  refused("negative", set_scale(-0.01f), {scale, "-0.01"});
  refused("huge", set_scale(1e37f), {scale, "1e+37"});
  refused("weight_shape", [](Fp8File&) {}, {kUp + ".weight", "[300, 200]", "[300, 100]"}, 300, 100);
  refused("weight_dtype", [&](Fp8File& f) {
    f.tensors[kUp + ".weight"].dtype = DType::U8;
  }, {kUp + ".weight", "U8"});

  // The config's exclusions against the tensors.
  Fp8File f("exclusions");
  f.tensors["model.layers.0.block_sparse_moe.gate.weight_scale_inv"] = {DType::F32, {1, 2}, std::vector<uint8_t>(8)};
  f.tensors["lm_head.weight"] = {DType::F8_E4M3, {1, 1}, {0x38}};
  f.write();
  const SafetensorsFile file(f.path.string());
  const auto config = Fp8BlockConfig::from_hf({{"quantization_config", minimax_quant()}}, "config.json");
  expect_error([&] { config->quantizes(file, "model.layers.0.block_sparse_moe.gate"); },
               {f.path.string(), "block_sparse_moe.gate.weight_scale_inv", "BF16"});
  expect_error([&] { config->quantizes(file, "lm_head"); }, {f.path.string(), "lm_head.weight", "excludes"});
}

}  // namespace
}  // namespace strata
