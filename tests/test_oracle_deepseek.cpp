// strata against llama.cpp (node-llama-cpp's prebuilt CPU build, through
// oracle/llama_oracle.mjs) on small synthetic deepseek2 models in GGUF F32:
// multi-head latent attention (with and without q LoRA) over a latent cache,
// interleaved RoPE with YaRN at llama.cpp's fixed betas 32/1, leading dense
// layers, shared experts and sigmoid routing with a selection-only bias,
// group-limited top-k and a routed scaling factor. The same checks as for
// qwen3moe and minimax-m2 (oracle_fixture.h compare_with_llama): 32 greedy
// tokens on 5 prompts, top-5 logit gaps and probabilities within 1e-4. Also:
// the HF folder and the GGUF give the same logits.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "oracle_fixture.h"

using namespace strata;
using namespace oracle_fixture;

namespace {

class OracleDeepseekTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = make_temp_dir("test_oracle_deepseek"); }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override { ASSERT_TRUE(oracle_installed()) << "oracle/node_modules is missing: run scripts/install-deps"; }

  static SynthOptions options(uint64_t seed) {
    SynthOptions o;
    o.config = synth_preset("tiny", "deepseek_v3");
    o.format = SynthFormat::GGUF;
    o.dtype = DType::F32;
    o.seed = seed;
    o.tokenizer_dir = kTokenizerDir;
    return o;
  }

  static fs::path dir_;
};
fs::path OracleDeepseekTest::dir_;

}  // namespace

// q LoRA, one dense layer then two MoE layers, 2 expert groups of which
// tokens use 1, shared expert, YaRN factor 4.
TEST_F(OracleDeepseekTest, TinyPresetQLoraGroupedRouting) {
  auto o = options(31);
  ASSERT_GT(o.config.q_lora_rank, 0);
  ASSERT_GT(o.config.n_group, 1);
  compare_with_llama(dir_ / "tiny.gguf", o, dir_);
}

// V2-Lite's form: one q projection; two leading dense layers; no groups.
TEST_F(OracleDeepseekTest, NoQLoraTwoDenseLayers) {
  auto o = options(32);
  o.config.q_lora_rank = 0;
  o.config.num_hidden_layers = 4;
  o.config.mlp_only_layers = {0, 1};
  o.config.n_group = 1;
  o.config.topk_group = 1;
  o.config.num_experts_per_tok = 3;
  o.config.routed_scaling_factor = 1.5;
  compare_with_llama(dir_ / "no_q_lora.gguf", o, dir_);
}

// Wider heads, 4 groups of 4 experts with 2 used, two shared experts, a
// larger YaRN factor, tied embeddings.
TEST_F(OracleDeepseekTest, FourGroupsTwoSharedExpertsTied) {
  auto o = options(33);
  o.config.hidden_size = 96;
  o.config.num_attention_heads = 3;
  o.config.num_key_value_heads = 3;
  o.config.q_lora_rank = 64;
  o.config.kv_lora_rank = 48;
  o.config.qk_nope_head_dim = 24;
  o.config.rotary_dim = 16;
  o.config.head_dim = 40;
  o.config.v_head_dim = 20;
  o.config.num_experts = 16;
  o.config.num_experts_per_tok = 4;
  o.config.n_group = 4;
  o.config.topk_group = 2;
  o.config.n_shared_experts = 2;
  o.config.tie_word_embeddings = true;
  o.config.rope_scaling.factor = 40;
  o.config.rope_scaling.original_max_position = 512;
  compare_with_llama(dir_ / "groups4.gguf", o, dir_);
}

TEST_F(OracleDeepseekTest, HFFolderAndGGUFGiveTheSameLogits) {
  auto o = options(34);
  o.format = SynthFormat::Both;
  expect_hf_and_gguf_agree(dir_ / "hf_vs_gguf", o);
  o.config.q_lora_rank = 0;
  o.config.tie_word_embeddings = true;
  expect_hf_and_gguf_agree(dir_ / "hf_vs_gguf_no_q_lora", o);
}
