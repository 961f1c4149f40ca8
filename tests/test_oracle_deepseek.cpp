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

  static SynthOptions options(uint64_t seed) { return tiny_f32_gguf("deepseek_v3", seed); }

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

// A kimi_k2 GGUF carries Kimi's tiktoken vocabulary with merges derived from
// its ranks (llama.cpp merges nothing without them): llama.cpp's tokenizer
// (pre-tokenizer "kimi-k2") gives the ids strata gives, on text, code, digit
// runs, CJK and Kimi's special-token markup.
TEST_F(OracleDeepseekTest, KimiK2GgufTokenizesAsStrata) {
  auto o = options(35);
  o.config = synth_preset("tiny", "kimi_k2");
  const fs::path gguf = dir_ / "kimi_k2.gguf";
  synthesize_model(gguf.string(), o);
  const auto model = Model::load(gguf.string());
  ASSERT_EQ(model->tokenizer().gguf_pre(), "kimi-k2");
  std::vector<std::string> texts = kGreedyPrompts;
  for (const char* text :
       {"<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.<|im_end|>"
        "<|im_user|>user<|im_middle|>\u4eca\u5929\u5317\u4eac\u5929\u6c14\u600e\u4e48\u6837\uff1f<|im_end|>"
        "<|im_assistant|>assistant<|im_middle|><think>",
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
        "{\"city\": \"Paris\", \"days\": 3}<|tool_call_end|><|tool_calls_section_end|>",
        "int main() {\n    return 0x7fff'ffff;  // don't\n}\n\n\n", "1234567890 12,345.67e-8",
        "I'LL go; they've HTTPServer's   spaced\ttabs\r\n", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \ud55c\uad6d\uc5b4",
        "emoji \U0001F600\U0001F680 and accents: na\u00efve caf\u00e9"}) {
    texts.push_back(text);
  }
  const json out = run_llama_oracle({{"model", gguf.string()}, {"tokenize", texts}}, dir_);
  ASSERT_EQ(out["tokens"].size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(out["tokens"][i].get<std::vector<int32_t>>(), model->tokenizer().encode(texts[i])) << texts[i];
  }
}
