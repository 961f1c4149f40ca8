// `strata synth --quant int4`: the compressed-tensors folder holds the synth
// values quantized to INT4 g32 (routed experts only), and the Q4_0 GGUF written
// next to it holds the same values, so strata gives identical logits and
// greedy tokens from either (on the exact path).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/hf_folder.h"
#include "kernels/int4_gemm.h"
#include "oracle_fixture.h"
#include "tools/synth.h"

using namespace strata;
using namespace oracle_fixture;

namespace {

SynthOptions int4_options(uint64_t seed) {
  SynthOptions o;
  o.config = synth_preset("tiny", "qwen3_moe");
  o.config.moe_intermediate_size = 64;
  o.format = SynthFormat::Both;
  o.dtype = DType::BF16;
  o.quant = SynthQuant::Int4;
  o.seed = seed;
  o.tokenizer_dir = kTokenizerDir;
  return o;
}

class Int4SynthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    select_path(kGemmW4a16G32.name, NumericPath::Exact);
    dir_ = make_temp_dir("test_int4_synth");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static fs::path dir_;
};
fs::path Int4SynthTest::dir_;

TEST_F(Int4SynthTest, CompressedTensorsFolderHoldsQuantizedExpertsOnly) {
  const SynthOptions o = int4_options(5);
  const fs::path folder = dir_ / "ct";
  synthesize_model(folder.string(), o);

  std::ifstream config_file(folder / "config.json");
  const json config = json::parse(config_file);
  ASSERT_TRUE(config.contains("quantization_config"));
  EXPECT_EQ(config["quantization_config"]["format"], "pack-quantized");

  const HFFolder hf(folder.string());
  EXPECT_FALSE(hf.find("model.layers.0.mlp.experts.0.up_proj.weight"));
  EXPECT_TRUE(hf.find("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(hf.find("model.layers.0.mlp.gate.weight"));

  // Every stored value is the synth value rounded to the nearest multiple of
  // its group's scale, scale = max|w| / 7.5 rounded to bf16: at most half a
  // step away, plus up to 7.5 bf16 rounding errors of the scale where +7.5
  // steps clamp to q = 7.
  const std::string module = "model.layers.1.mlp.experts.3.down_proj";
  const TensorView& packed = hf.get(module + ".weight_packed");
  const TensorView& scales = hf.get(module + ".weight_scale");
  const int64_t rows = o.config.hidden_size, cols = o.config.moe_intermediate_size;
  ASSERT_EQ(packed.shape, (std::vector<int64_t>{rows, cols / 8}));
  ASSERT_EQ(scales.dtype, DType::BF16);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < cols / 32; ++g) {
      uint16_t bits;
      std::memcpy(&bits, scales.data + 2 * (r * (cols / 32) + g), 2);
      const float scale = bf16_to_f32(bits);
      float amax = 0;
      for (int64_t c = g * 32; c < g * 32 + 32; ++c) {
        amax = std::max(amax, std::fabs(synth_weight_value(o.config, o.seed, module + ".weight", r * cols + c)));
      }
      EXPECT_EQ(bits, f32_to_bf16(amax / 7.5f));
      for (int64_t c = g * 32; c < g * 32 + 32; ++c) {
        int32_t word;
        std::memcpy(&word, packed.data + 4 * (r * (cols / 8) + c / 8), 4);
        const int q = int((uint32_t(word) >> (4 * (c % 8))) & 0xF) - 8;
        const float w = synth_weight_value(o.config, o.seed, module + ".weight", r * cols + c);
        ASSERT_LE(std::fabs(scale * float(q) - w), (0.5f + 7.5f / 256) * scale) << "row " << r << " col " << c;
      }
    }
  }
}

TEST_F(Int4SynthTest, CompressedTensorsAndQ4_0GiveIdenticalLogitsAndTokens) {
  ASSERT_EQ(select(kGemmW4a16G32.name).path, NumericPath::Exact);
  const fs::path folder = dir_ / "both";
  synthesize_model(folder.string(), int4_options(6));
  auto ct = Model::load(folder.string());
  auto q4 = Model::load((folder / kSynthGGUFName).string());
  const std::vector<int32_t> prompt = {785, 3974, 13876, 38835, 34208, 916, 279, 15678};
  std::vector<float> a, b;
  const auto steps_ct = strata_greedy(*ct, prompt, 24, 5, &a);
  const auto steps_q4 = strata_greedy(*q4, prompt, 24, 5, &b);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "logit " << i;
  std::set<int32_t> distinct;
  for (size_t s = 0; s < steps_ct.size(); ++s) {
    EXPECT_EQ(steps_ct[s].token, steps_q4[s].token) << "step " << s;
    EXPECT_EQ(steps_ct[s].top[0].logit, steps_q4[s].top[0].logit) << "step " << s;
    distinct.insert(steps_ct[s].token);
  }
  EXPECT_GE(distinct.size(), 4u);
}

TEST_F(Int4SynthTest, RefusesShapesThatAreNotWholeGroups) {
  SynthOptions o = int4_options(7);
  o.config.moe_intermediate_size = 48;
  try {
    synthesize_model((dir_ / "bad").string(), o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of the group size 32"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "bad"));
}

}  // namespace
