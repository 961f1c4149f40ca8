// strata against llama.cpp (node-llama-cpp's prebuilt CPU build, through
// oracle/llama_oracle.mjs) on small synthetic minimax-m2 models in GGUF F32:
// partial NeoX RoPE, RMSNorm over the whole q/k projections, sigmoid routing
// with a selection-only correction bias and renormalised weights. The same
// checks as for qwen3moe (oracle_fixture.h compare_with_llama): 32 greedy
// tokens on 5 prompts, top-5 logit gaps and probabilities within 1e-4. Also:
// the HF folder and the GGUF give the same logits, and the config's MTP
// modules and bad inputs are handled.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fp8_checkpoint.h"
#include "oracle_fixture.h"
#include "tools/quantize.h"

using namespace strata;
using namespace oracle_fixture;

namespace {

class OracleMiniMaxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = make_temp_dir("test_oracle_minimax"); }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override { ASSERT_TRUE(oracle_installed()) << "oracle/node_modules is missing: run scripts/install-deps"; }

  static SynthOptions options(uint64_t seed) { return tiny_f32_gguf("minimax_m2", seed); }

  static fs::path dir_;
};
fs::path OracleMiniMaxTest::dir_;

}  // namespace

TEST_F(OracleMiniMaxTest, TinyPresetPartialRope) {
  auto o = options(21);  // 4 q / 2 kv heads of 16, RoPE on 8 dims, 8 experts top-2, untied
  ASSERT_LT(o.config.rotary_dim, o.config.head_dim);
  compare_with_llama(dir_ / "tiny.gguf", o, dir_);
}

TEST_F(OracleMiniMaxTest, TiedEmbeddingsThreeByOneHeads) {
  auto o = options(41);
  o.config.tie_word_embeddings = true;  // GGUF gets output.weight = the embedding, as llama.cpp requires one
  o.config.num_attention_heads = 3;
  o.config.num_key_value_heads = 1;
  o.config.head_dim = 32;
  o.config.rotary_dim = 12;
  o.config.num_experts = 6;
  o.config.num_experts_per_tok = 3;
  o.config.moe_intermediate_size = 40;
  compare_with_llama(dir_ / "tied_3q1kv.gguf", o, dir_);
}

TEST_F(OracleMiniMaxTest, DeeperFullRotarySixByThreeHeads) {
  auto o = options(23);
  o.config.hidden_size = 96;
  o.config.num_hidden_layers = 3;
  o.config.num_attention_heads = 6;
  o.config.num_key_value_heads = 3;
  o.config.head_dim = 16;
  o.config.rotary_dim = 16;
  o.config.num_experts = 16;
  o.config.num_experts_per_tok = 4;
  o.config.moe_intermediate_size = 24;
  o.config.rope_theta = 10000;
  compare_with_llama(dir_ / "h96_6q3kv.gguf", o, dir_);
}

TEST_F(OracleMiniMaxTest, HFFolderAndGGUFGiveTheSameLogits) {
  auto o = options(24);
  o.format = SynthFormat::Both;
  expect_hf_and_gguf_agree(dir_ / "hf_vs_gguf", o);
  o.config.tie_word_embeddings = true;
  expect_hf_and_gguf_agree(dir_ / "hf_vs_gguf_tied", o);
}

// The HF folder says what the real checkpoint says: MiniMaxM2ForCausalLM,
// num_local_experts, rotary_dim, sigmoid scoring with a routing bias, and the
// block_sparse_moe.experts.E.w1/w2/w3 names.
TEST_F(OracleMiniMaxTest, HFFolderHasTheCheckpointLayout) {
  auto o = options(25);
  o.format = SynthFormat::HF;
  o.dtype = DType::BF16;
  const fs::path folder = dir_ / "layout";
  synthesize_model(folder.string(), o);
  std::ifstream in(folder / "config.json");
  const auto config = nlohmann::json::parse(in);
  EXPECT_EQ(config["architectures"][0], "MiniMaxM2ForCausalLM");
  EXPECT_EQ(config["model_type"], "minimax_m2");
  EXPECT_EQ(config["num_local_experts"], 8);
  EXPECT_EQ(config["intermediate_size"], 32);
  EXPECT_EQ(config["rotary_dim"], 8);
  EXPECT_EQ(config["scoring_func"], "sigmoid");
  EXPECT_EQ(config["use_routing_bias"], true);
  auto model = Model::load(folder.string());
  EXPECT_EQ(model->config().rope_dims(), 8);
  EXPECT_EQ(model->config().qk_norm, QkNorm::Full);
  EXPECT_EQ(model->config().router_scoring, RouterScoring::Sigmoid);
  std::ifstream st(folder / "model.safetensors", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(st)), {});
  for (const char* name : {"model.layers.1.block_sparse_moe.experts.7.w2.weight",
                           "model.layers.0.block_sparse_moe.e_score_correction_bias",
                           "model.layers.0.self_attn.q_norm.weight", "model.layers.0.block_sparse_moe.gate.weight"}) {
    EXPECT_NE(bytes.find(name), std::string::npos) << name;
  }
}

// MTP modules in the config are recognised and skipped (with a log line); a
// model_type strata does not know is named with the supported ones; an
// unsupported q/k norm is refused; a tensor of the wrong shape is named.
TEST_F(OracleMiniMaxTest, MtpSkippedAndBadInputNamed) {
  auto o = options(26);
  o.format = SynthFormat::HF;
  const fs::path folder = dir_ / "mtp";
  synthesize_model(folder.string(), o);
  auto rewrite_config = [&](const std::function<void(nlohmann::json&)>& edit) {
    std::ifstream in(folder / "config.json");
    auto j = nlohmann::json::parse(in);
    edit(j);
    std::ofstream(folder / "config.json") << j.dump(2);
  };
  rewrite_config([](nlohmann::json& j) {
    j["use_mtp"] = true;
    j["num_mtp_modules"] = 3;
  });
  testing::internal::CaptureStderr();
  auto model = Model::load(folder.string());
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("skipping the 3 multi-token-prediction modules"), std::string::npos) << log;
  EXPECT_EQ(model->config().num_mtp_modules, 3);

  rewrite_config([](nlohmann::json& j) { j["model_type"] = "minimax_m9"; });
  try {
    Model::load(folder.string());
    FAIL() << "an unknown model_type loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported architecture 'minimax_m9' (supported: qwen3_moe, qwen3, minimax_m2, deepseek_v3, kimi_k2)"),
              std::string::npos)
        << e.what();
  }
  rewrite_config([](nlohmann::json& j) {
    j["model_type"] = "minimax_m2";
    j["qk_norm_type"] = "per_head";
  });
  EXPECT_THROW(Model::load(folder.string()), Error);
  rewrite_config([](nlohmann::json& j) {
    j.erase("qk_norm_type");
    j["num_local_experts"] = 9;  // the stored router has 8 rows
  });
  try {
    Model::load(folder.string());
    FAIL() << "a misshapen router loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.block_sparse_moe.gate.weight"), std::string::npos) << e.what();
  }
}

// MiniMax-M2 ships FP8 (e4m3, 128 x 128 block scales; router, correction
// bias and lm_head kept high precision). Such a folder loads natively (the
// weights stay FP8) and gives the logits of its exactly dequantized F32 twin
// within 1e-4 (only the summation order differs); `strata quantize` turns it
// into INT4 routed experts that still load and decode.
TEST_F(OracleMiniMaxTest, Fp8FolderMatchesItsDequantizedTwin) {
  auto o = options(27);
  o.format = SynthFormat::HF;
  o.config.moe_intermediate_size = 64;  // INT4 groups of 32 for the quantize step
  synthesize_model((dir_ / "fp8_src").string(), o);
  const auto dequantized = fp8_checkpoint::write_fp8_copy(dir_ / "fp8_src", dir_ / "fp8");
  ASSERT_FALSE(dequantized.empty());
  ASSERT_EQ(dequantized.count("model.layers.0.block_sparse_moe.gate"), 0u);
  fp8_checkpoint::write_dequantized_twin(dir_ / "fp8_src", dequantized, dir_ / "fp8_twin");
  auto fp8 = Model::load((dir_ / "fp8").string());
  auto twin = Model::load((dir_ / "fp8_twin").string());
  const auto prompt = fp8->tokenizer().encode(kGreedyPrompts[0]);
  std::vector<float> a, b;
  const auto steps_fp8 = strata_greedy(*fp8, prompt, 8, 1, &a);
  const auto steps_twin = strata_greedy(*twin, prompt, 8, 1, &b);
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(a[i] - b[i])));
  EXPECT_LT(max_diff, 1e-4);
  for (size_t s = 0; s < steps_fp8.size(); ++s) EXPECT_EQ(steps_fp8[s].token, steps_twin[s].token);

  QuantizeOptions q;  // default targets: minimax_m2's routed experts
  q.model = (dir_ / "fp8").string();
  q.out = (dir_ / "fp8_int4").string();
  const QuantizeReport report = quantize_model(q);
  EXPECT_EQ(report.tensors.size(), size_t(2 * 8 * 3));  // layers x experts x w1/w2/w3
  for (const auto& t : report.tensors) EXPECT_NE(t.module.find(".block_sparse_moe.experts."), std::string::npos);
  auto int4 = Model::load(q.out);
  std::vector<float> c;
  strata_greedy(*int4, prompt, 2, 1, &c);
  for (float v : c) ASSERT_TRUE(std::isfinite(v));
}
