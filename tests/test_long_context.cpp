// Long context on a tiny kimi_k2 model (two layers, MLA over a latent
// paged cache of 24 floats per token) whose YaRN, factor 64 over 1,024 original positions, reaches
// 65,536 positions although its max_position_embeddings is 4,096: the engine
// serves up to that limit and refuses more, and a prompt of more than 32K
// tokens run by the chunked policy in 4,096-token chunks gives the logits
// and greedy tokens of the whole prompt run as one forward pass. LONG: the
// 32K prompt's attention is quadratic: about a minute on 2 cores, so this
// binary carries the ctest label "long" (`ctest -LE long` skips it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "core/error.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "model/model.h"
#include "oracle_fixture.h"
#include "tools/synth.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

constexpr int32_t kYarnLimit = 64 * 1024;

class LongContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = oracle_fixture::make_temp_dir("long_context");
    SynthOptions o;
    o.config = synth_preset("tiny", "kimi_k2");
    o.config.num_hidden_layers = 2;  // one dense layer, one MoE layer
    o.config.kv_lora_rank = 16;      // latent rows of 16 + 8: the quadratic part stays short
    o.config.rope_scaling.factor = 64;
    o.config.rope_scaling.original_max_position = 1024;
    o.config.max_position_embeddings = 4096;
    o.tokenizer_dir = default_synth_tokenizer_dir();
    o.seed = 21;
    synthesize_model((dir_ / "model").string(), o);
    model_ = Model::load((dir_ / "model").string()).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    fs::remove_all(dir_);
  }

  static fs::path dir_;
  static Model* model_;
};
fs::path LongContextTest::dir_;
Model* LongContextTest::model_ = nullptr;

TEST_F(LongContextTest, MaxModelLenReachesTheYarnLimit) {
  ASSERT_EQ(model_->config().max_context_length(), kYarnLimit);
  EngineConfig config;
  config.num_kv_blocks = 64;
  EXPECT_EQ(Engine(*model_, config).config().max_model_len, kYarnLimit);  // the default
  config.max_model_len = kYarnLimit;
  EXPECT_NO_THROW(Engine(*model_, config));
  config.max_model_len = kYarnLimit + 1;
  try {
    Engine engine(*model_, config);
    ADD_FAILURE() << "--max-model-len past the YaRN limit was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("maximum context of 65536 tokens"), std::string::npos) << e.what();
  }
}

TEST_F(LongContextTest, Prompt32KChunkedPrefillMatchesTheWholePrompt) {
  constexpr int32_t kPromptTokens = 32768 + 7, kChunk = 4096, kGenerate = 4, kTop = 5;
  std::mt19937 rng(3);
  std::vector<int32_t> prompt;
  for (int32_t i = 0; i < kPromptTokens; ++i) prompt.push_back(int32_t(1000 + rng() % 40000));

  // The reference: the whole prompt as one batch (ContiguousKVCache), then greedy tokens.
  std::vector<float> first_logits;
  const std::vector<oracle_fixture::Step> want =
      oracle_fixture::strata_greedy(*model_, prompt, kGenerate, kTop, &first_logits);

  EngineConfig config;
  config.schedule = "chunked";
  config.max_num_batched_tokens = kChunk;
  config.block_size = 16;
  config.num_kv_blocks = (kPromptTokens + kGenerate) / 16 + 8;
  config.prefix_caching = false;
  Engine engine(*model_, config);
  Request request;
  request.prompt = prompt;
  request.params.max_tokens = kGenerate;
  request.params.ignore_eos = true;
  request.params.logprobs = kTop;
  const std::shared_ptr<RequestStream> stream = engine.submit(request);
  int prefill_steps = 0;
  std::vector<TokenLogprob> got;
  while (engine.has_unfinished()) {
    engine.step();
    while (std::optional<StreamEvent> e = stream->try_next()) got.insert(got.end(), e->logprobs.begin(), e->logprobs.end());
    if (got.empty()) ++prefill_steps;
  }
  EXPECT_EQ(prefill_steps + 1, (kPromptTokens + kChunk - 1) / kChunk) << "the prompt was not chunked";

  // Every greedy token, and its log-probability; the first step's top-5
  // against the log-softmax of the whole-prompt forward's last logits.
  ASSERT_EQ(got.size(), want.size());
  for (size_t s = 0; s < want.size(); ++s) {
    EXPECT_EQ(got[s].token, want[s].token) << "step " << s;
    EXPECT_NEAR(got[s].logprob, std::log(want[s].top[0].p), 1e-4) << "step " << s;
  }
  const std::vector<float> probs = softmax_probs(first_logits.data(), int64_t(first_logits.size()));
  ASSERT_EQ(got[0].top.size(), size_t(kTop));
  for (int k = 0; k < kTop; ++k) {
    EXPECT_EQ(got[0].top[size_t(k)].first, want[0].top[size_t(k)].id) << "rank " << k;
    EXPECT_NEAR(got[0].top[size_t(k)].second, std::log(probs[size_t(want[0].top[size_t(k)].id)]), 1e-4) << "rank " << k;
  }
}

}  // namespace
}  // namespace strata
