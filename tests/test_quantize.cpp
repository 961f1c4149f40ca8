// `strata quantize`: a synthetic BF16 folder becomes a compressed-tensors INT4
// folder that loads and generates close to the original; per-tensor errors are
// reported; an FP8 block-scaled folder becomes INT4 experts and BF16 elsewhere;
// bad input is refused with a one-line error.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/compressed_tensors.h"
#include "formats/fp8_block.h"
#include "formats/hf_folder.h"
#include "kernels/matmul.h"
#include "model/model.h"
#include "fp8_checkpoint.h"
#include "oracle_fixture.h"
#include "tools/quantize.h"
#include "tools/synth.h"

using namespace strata;
using namespace oracle_fixture;
using fp8_checkpoint::write_fp8_copy;

namespace {

struct CliRun {
  int status;
  std::string output;  // stdout and stderr
};

CliRun run_strata(const std::string& args) {
  const std::string cmd = fmt::format("{} {} 2>&1", STRATA_BINARY, args);
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  return {pclose(p), out};
}

class QuantizeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = make_temp_dir("test_quantize");
    SynthOptions o;
    o.config = synth_preset("tiny", "qwen3_moe");
    o.config.moe_intermediate_size = 64;
    o.format = SynthFormat::HF;
    o.dtype = DType::BF16;
    o.seed = 9;
    o.tokenizer_dir = kTokenizerDir;
    synthesize_model((dir_ / "bf16").string(), o);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static fs::path dir_;
};
fs::path QuantizeTest::dir_;

TEST_F(QuantizeTest, RoutedExpertsBecomeInt4AndTheModelStillAgrees) {
  QuantizeOptions opts;
  opts.model = (dir_ / "bf16").string();
  opts.out = (dir_ / "int4").string();
  uint64_t last_done = 0, last_total = 0;
  const QuantizeReport report = quantize_model(opts, [&](uint64_t done, uint64_t total, const QuantizedTensor*) {
    EXPECT_GE(done, last_done);
    last_done = done, last_total = total;
  });
  EXPECT_EQ(last_done, last_total);
  ASSERT_EQ(report.tensors.size(), 2u * 8u * 3u);  // layers x experts x {gate, up, down}
  for (const auto& t : report.tensors) {
    EXPECT_NE(t.module.find(".mlp.experts."), std::string::npos) << t.module;
    // 4-bit round to nearest of near-Gaussian groups: about 0.1 relative RMS error.
    EXPECT_GT(t.rel_rms_error, 0.03) << t.module;
    EXPECT_LT(t.rel_rms_error, 0.2) << t.module;
  }
  EXPECT_GT(report.overall_rel_rms_error, 0.03);
  EXPECT_LT(report.overall_rel_rms_error, 0.2);

  const HFFolder out(opts.out);
  EXPECT_TRUE(out.find("model.layers.0.mlp.experts.0.gate_proj.weight_packed"));
  EXPECT_TRUE(out.find("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_FALSE(fs::exists(opts.out + ".partial"));

  // The INT4 model loads and generates 16 tokens; its first greedy token is
  // the BF16 model's. Later ones are not compared: quantization shifts the
  // logits a little, so a near-tie may part them (INT4 against an
  // independent implementation is test_oracle_llama_q4's job).
  auto bf16 = Model::load((dir_ / "bf16").string());
  auto int4 = Model::load(opts.out);
  const std::vector<int32_t> prompt = {785, 3974, 13876, 38835, 34208, 916, 279, 15678};
  const auto a = strata_greedy(*bf16, prompt, 16, 1);
  const auto b = strata_greedy(*int4, prompt, 16, 1);
  ASSERT_EQ(b.size(), 16u);
  EXPECT_EQ(a[0].token, b[0].token);
}

// The Q4_0 GGUF holds the same INT4 values as the compressed-tensors folder
// (and the same BF16 elsewhere), so strata computes identical logits.
TEST_F(QuantizeTest, Q4_0GGUFMatchesTheCompressedTensorsFolder) {
  QuantizeOptions ct;
  ct.model = (dir_ / "bf16").string();
  ct.out = (dir_ / "ct_for_gguf").string();
  quantize_model(ct);
  QuantizeOptions gg = ct;
  gg.out = (dir_ / "q4_0.gguf").string();
  gg.format = QuantizeFormat::Q4_0GGUF;
  const QuantizeReport report = quantize_model(gg);
  EXPECT_EQ(report.tensors.size(), 48u);
  EXPECT_FALSE(fs::exists(gg.out + ".partial"));

  auto a = Model::load(ct.out);
  auto b = Model::load(gg.out);
  const std::vector<int32_t> prompt = {785, 3974, 13876, 38835};
  std::vector<float> la, lb;
  const auto sa = strata_greedy(*a, prompt, 8, 1, &la);
  const auto sb = strata_greedy(*b, prompt, 8, 1, &lb);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) ASSERT_EQ(la[i], lb[i]) << "logit " << i;
  for (size_t s = 0; s < sa.size(); ++s) EXPECT_EQ(sa[s].token, sb[s].token) << "step " << s;
}

TEST_F(QuantizeTest, CommandPrintsPerTensorErrors) {
  const std::string out = (dir_ / "cli_int4").string();
  const CliRun r = run_strata(fmt::format("quantize --model {} --out {}", (dir_ / "bf16").string(), out));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("model.layers.1.mlp.experts.7.down_proj: relative RMS error 0.0"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("quantized 48 tensors; overall relative RMS error 0.0"), std::string::npos) << r.output;

  // Quantizing again: the output exists; quantizing the output: already quantized.
  const CliRun again = run_strata(fmt::format("quantize --model {} --out {}", (dir_ / "bf16").string(), out));
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.output.find("already exists"), std::string::npos) << again.output;
  const CliRun twice = run_strata(fmt::format("quantize --model {} --out {}", out, (dir_ / "twice").string()));
  EXPECT_NE(twice.status, 0);
  EXPECT_NE(twice.output.find("already quantized"), std::string::npos) << twice.output;
}

TEST_F(QuantizeTest, BadInputIsRefused) {
  const CliRun missing = run_strata(fmt::format("quantize --model {} --out {}", (dir_ / "nope").string(),
                                             (dir_ / "x").string()));
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find((dir_ / "nope").string()), std::string::npos) << missing.output;
  const CliRun format = run_strata(fmt::format("quantize --model {} --out {} --format mxfp4", (dir_ / "bf16").string(),
                                            (dir_ / "y").string()));
  EXPECT_NE(format.status, 0);
  EXPECT_NE(format.output.find("mxfp4"), std::string::npos) << format.output;

  QuantizeOptions opts;
  opts.model = (dir_ / "bf16").string();
  opts.out = (dir_ / "bad_regex").string();
  opts.targets = {"re:(unclosed"};
  EXPECT_THROW(quantize_model(opts), Error);
  EXPECT_FALSE(fs::exists(opts.out));
  EXPECT_FALSE(fs::exists(opts.out + ".partial"));
}

// Experts: INT4 of the exact FP8 dequantization, bit for bit; the other FP8
// weights: BF16 of it; scales and the fp8 config gone; the result loads.
TEST_F(QuantizeTest, Fp8CheckpointBecomesInt4ExpertsAndBf16Elsewhere) {
  const auto dequantized = write_fp8_copy(dir_ / "bf16", dir_ / "fp8");
  QuantizeOptions opts;
  opts.model = (dir_ / "fp8").string();
  opts.out = (dir_ / "fp8_int4").string();
  const QuantizeReport report = quantize_model(opts);
  ASSERT_EQ(report.tensors.size(), 48u);
  EXPECT_GT(report.overall_rel_rms_error, 0.03);
  EXPECT_LT(report.overall_rel_rms_error, 0.2);

  const HFFolder out(opts.out);
  EXPECT_EQ(out.config()["quantization_config"]["quant_method"], "compressed-tensors");
  for (const auto& [name, t] : out.tensors()) {
    EXPECT_NE(t.dtype, DType::F8_E4M3) << name;
    EXPECT_EQ(name.find("weight_scale_inv"), std::string::npos) << name;
  }
  for (const auto& [module, w] : dequantized) {
    SCOPED_TRACE(module);
    if (module.find(".mlp.experts.") != std::string::npos) {
      const TensorView& shape = out.get(module + ".weight_shape");
      int64_t dims[2];
      std::memcpy(dims, shape.data, 16);
      std::vector<int32_t> packed(w.size() / 8);
      std::vector<uint16_t> scales(w.size() / 32);
      quantize_int4_g32(w.data(), dims[0], dims[1], packed.data(), scales.data());
      ASSERT_EQ(std::memcmp(out.get(module + ".weight_packed").data, packed.data(), packed.size() * 4), 0);
      ASSERT_EQ(std::memcmp(out.get(module + ".weight_scale").data, scales.data(), scales.size() * 2), 0);
    } else {
      const TensorView& t = out.get(module + ".weight");
      ASSERT_EQ(t.dtype, DType::BF16);
      for (size_t i = 0; i < w.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        ASSERT_EQ(h, f32_to_bf16(w[i])) << i;
      }
    }
  }
  EXPECT_EQ(out.get("model.layers.0.mlp.gate.weight").dtype, DType::BF16);  // excluded: copied as stored
  auto model = Model::load(opts.out);
  std::vector<float> logits;
  strata_greedy(*model, {785, 3974, 13876}, 2, 1, &logits);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));

  QuantizeOptions gguf = opts;
  gguf.out = (dir_ / "fp8.gguf").string();
  gguf.format = QuantizeFormat::Q4_0GGUF;
  try {
    quantize_model(gguf);
    ADD_FAILURE() << "FP8 to GGUF accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("FP8"), std::string::npos) << e.what();
  }
}

TEST_F(QuantizeTest, Fp8CheckpointWithABadScaleIsRefused) {
  const std::string victim = "model.layers.1.mlp.experts.5.down_proj.weight_scale_inv";
  write_fp8_copy(dir_ / "bf16", dir_ / "fp8_bad", [&](const std::string& name, std::vector<uint8_t>& bytes) {
    if (name == victim) std::memset(bytes.data(), 0xff, 4);  // a NaN
  });
  QuantizeOptions opts;
  opts.model = (dir_ / "fp8_bad").string();
  opts.out = (dir_ / "fp8_bad_int4").string();
  try {
    quantize_model(opts);
    ADD_FAILURE() << "NaN scale accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(victim), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(opts.out));
  EXPECT_FALSE(fs::exists(opts.out + ".partial"));
}

// `strata quantize` of a BF16 kimi_k2 folder gives what Kimi K2 Thinking
// ships, as `synth --quant int4` writes it: the same quantization_config,
// the same tensors with the same dtypes and shapes (routed experts INT4, the
// router and everything in the ignore list BF16), in shards with an index.
TEST(QuantizeKimiK2, Bf16FolderBecomesTheK2ThinkingLayout) {
  const fs::path dir = make_temp_dir("test_quantize_k2");
  SynthOptions o;
  o.config = synth_preset("tiny", "kimi_k2");
  o.format = SynthFormat::HF;
  o.dtype = DType::BF16;
  o.seed = 5;
  o.tokenizer_dir = kTokenizerDir;
  o.shard_bytes = 1 << 20;
  synthesize_model((dir / "bf16").string(), o);
  o.quant = SynthQuant::Int4;
  synthesize_model((dir / "synth_int4").string(), o);

  QuantizeOptions opts;
  opts.model = (dir / "bf16").string();
  opts.out = (dir / "int4").string();
  opts.shard_bytes = 1 << 20;
  const QuantizeReport report = quantize_model(opts);
  const ModelConfig& c = o.config;
  int64_t moe_layers = 0;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) moe_layers += c.is_moe_layer(i);
  EXPECT_EQ(int64_t(report.tensors.size()), moe_layers * c.num_experts * 3);

  const HFFolder ours(opts.out), synth((dir / "synth_int4").string());
  EXPECT_EQ(ours.config()["quantization_config"], synth.config()["quantization_config"]);
  auto layout = [](const HFFolder& f) {
    std::map<std::string, std::pair<DType, std::vector<int64_t>>> out;
    for (const auto& [name, t] : f.tensors()) out[name] = {t.dtype, t.shape};
    return out;
  };
  EXPECT_EQ(layout(ours), layout(synth));
  EXPECT_EQ(ours.get("model.layers.1.mlp.gate.weight").dtype, DType::BF16);

  std::ifstream index_in(fs::path(opts.out) / "model.safetensors.index.json");
  ASSERT_TRUE(index_in) << "no index";
  const nlohmann::json index = nlohmann::json::parse(index_in);
  std::set<std::string> files;
  uint64_t total = 0;
  for (const auto& [name, file] : index["weight_map"].items()) {
    files.insert(file.get<std::string>());
    total += ours.get(name).nbytes;
  }
  EXPECT_GT(files.size(), 1u);
  for (const auto& f : files) EXPECT_TRUE(fs::exists(fs::path(opts.out) / f)) << f;
  EXPECT_EQ(index["metadata"]["total_size"], total);
  EXPECT_EQ(index["weight_map"].size(), ours.tensors().size());

  // The tokenizer and generation files come along unchanged.
  int copied = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(dir / "bf16")) {
    const std::string name = e.path().filename().string();
    if (name == "config.json" || e.path().extension() == ".safetensors" || name.ends_with(".index.json")) continue;
    std::ifstream a(e.path()), b(fs::path(opts.out) / name);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}))
        << name;
    ++copied;
  }
  EXPECT_GE(copied, 2);

  auto bf16 = Model::load((dir / "bf16").string());
  auto int4 = Model::load(opts.out);
  const std::vector<int32_t> prompt = {785, 3974, 13876, 38835};
  std::vector<float> logits;
  const auto a = strata_greedy(*bf16, prompt, 4, 1);
  const auto b = strata_greedy(*int4, prompt, 4, 1, &logits);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  EXPECT_EQ(a[0].token, b[0].token);

  // GGUF output splits kv_b_proj per head as llama.cpp's deepseek2 wants it;
  // it holds the same values, so strata computes identical logits.
  QuantizeOptions gguf = opts;
  gguf.out = (dir / "int4.gguf").string();
  gguf.format = QuantizeFormat::Q4_0GGUF;
  EXPECT_EQ(quantize_model(gguf).tensors.size(), report.tensors.size());
  auto from_gguf = Model::load(gguf.out);
  std::vector<float> gguf_logits;
  const auto g = strata_greedy(*from_gguf, prompt, 4, 1, &gguf_logits);
  ASSERT_EQ(gguf_logits.size(), logits.size());
  for (size_t i = 0; i < logits.size(); ++i) ASSERT_EQ(gguf_logits[i], logits[i]) << "logit " << i;
  fs::remove_all(dir);
}

}  // namespace
