// DeepSeek-V3 / Kimi K2 pieces that the llama.cpp oracle does not pin down:
// the YaRN constants of architectures.md §5.1 (HF betas and llama.cpp's
// 32/1), the latent cache's bytes per token for K2's real config, the naive
// and absorbed MLA forms agreeing over a paged cache (prefill of two
// sequences over scattered blocks, then decode), the K2 Thinking INT4 HF
// layout, MTP layers skipped, and bad input refused with the key or tensor named.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "oracle_required.h"
#include "core/error.h"
#include "engine/paged_kv_cache.h"
#include "kernels/mla_attention.h"
#include "kernels/ops.h"
#include "model/batch_rows.h"
#include "model/blocks/mla_block.h"
#include "model/blocks/split_kv.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/layer_spec.h"
#include "model/model.h"
#include "model/workspace.h"
#include "model/yarn_rope.h"
#include "core/thread_pool.h"
#include "fp8_checkpoint.h"
#include "key_chunks.h"
#include "oracle_fixture.h"
#include "random_matrix.h"
#include "tools/synth.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Kimi K2 Thinking's config.json, as architectures.md §2.1 lists it.
json kimi_k2_config() {
  return json::parse(R"({
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "kimi_k2",
    "vocab_size": 163840, "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
    "num_hidden_layers": 61, "num_attention_heads": 64, "num_key_value_heads": 64,
    "n_shared_experts": 1, "n_routed_experts": 384, "num_experts_per_tok": 8, "routed_scaling_factor": 2.827,
    "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128,
    "topk_method": "noaux_tc", "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1, "moe_layer_freq": 1,
    "norm_topk_prob": true, "scoring_func": "sigmoid", "num_nextn_predict_layers": 0,
    "max_position_embeddings": 262144, "rms_norm_eps": 1e-5, "rope_theta": 50000.0,
    "rope_scaling": {"type": "yarn", "factor": 64.0, "original_max_position_embeddings": 4096,
                     "beta_fast": 1.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
    "tie_word_embeddings": false, "bos_token_id": 163584, "eos_token_id": 163585})");
}

TEST(Yarn, KimiK2Constants) {
  const ModelConfig c = ModelConfig::from_hf(kimi_k2_config(), "kimi_k2 config.json");
  EXPECT_EQ(c.architecture, "kimi_k2");
  EXPECT_EQ(c.head_dim, 192);
  const LayerSpec layer = layer_spec(c, 1);
  ASSERT_TRUE(layer.mla);
  EXPECT_NEAR(layer.latent.softmax_scale, 0.1446796, 1e-6);
  EXPECT_FLOAT_EQ(layer.latent.rope.cos_sin_scale, 1.0f);
  const YarnRange hf = yarn_correction_range(64, 50000, c.rope_scaling);
  EXPECT_EQ(hf.low, 19);
  EXPECT_EQ(hf.high, 20);
  // Pairs 0..19 keep their frequency, pairs from 20 on are divided by 64.
  for (int64_t i = 0; i < 32; ++i) {
    const double original = std::pow(50000.0, -2.0 * double(i) / 64.0);
    EXPECT_NEAR(layer.latent.rope.inv_freq[size_t(i)], i < 20 ? original : original / 64, 1e-6 * original) << i;
  }
  YarnScaling llama = c.rope_scaling;  // llama.cpp's deepseek2 always uses betas 32/1
  llama.beta_fast = 32;
  const YarnRange l = yarn_correction_range(64, 50000, llama);
  EXPECT_EQ(l.low, 8);
  EXPECT_EQ(l.high, 20);
  YarnScaling factor32 = c.rope_scaling;  // a 128K-context K2 config
  factor32.factor = 32;
  EXPECT_NEAR(yarn_softmax_scale_factor(factor32) / std::sqrt(192.0), 0.1308608, 1e-6);
}

// The context a YaRN config serves is what the scaling reaches,
// original_max_position_embeddings x factor (vLLM's rule): K2's 262,144
// equals its max_position_embeddings, a config without that key gets it
// anyway, and a factor-32 K2 config serves 131,072.
TEST(Yarn, MaxContextIsTheYarnLimit) {
  const ModelConfig k2 = ModelConfig::from_hf(kimi_k2_config(), "kimi_k2 config.json");
  EXPECT_EQ(k2.max_context_length(), 262144);
  EXPECT_EQ(k2.max_context_length(), k2.max_position_embeddings);
  json no_max = kimi_k2_config();
  no_max.erase("max_position_embeddings");
  EXPECT_EQ(ModelConfig::from_hf(no_max, "config.json").max_context_length(), 262144);
  json factor32 = kimi_k2_config();
  factor32["rope_scaling"]["factor"] = 32.0;
  EXPECT_EQ(ModelConfig::from_hf(factor32, "config.json").max_context_length(), 131072);
  json no_yarn = kimi_k2_config();
  no_yarn.erase("rope_scaling");
  EXPECT_EQ(ModelConfig::from_hf(no_yarn, "config.json").max_context_length(), 262144);
  json absurd = kimi_k2_config();
  absurd["rope_scaling"]["factor"] = 1e5;
  EXPECT_THROW(ModelConfig::from_hf(absurd, "config.json"), Error);
}

// The kimi-k2-layer preset is K2's config but for the depth.
TEST(Yarn, KimiK2LayerPresetIsTheRealShape) {
  const ModelConfig real = ModelConfig::from_hf(kimi_k2_config(), "kimi_k2 config.json");
  ModelConfig preset = synth_preset("kimi-k2-layer", "kimi_k2");
  validate_synth_config(preset);
  preset.num_hidden_layers = real.num_hidden_layers;
  preset.vocab_size = real.vocab_size;
  preset.bos_token_id = real.bos_token_id;
  preset.eos_token_id = real.eos_token_id;
  EXPECT_EQ(preset.to_hf().dump(), real.to_hf().dump());
}

TEST(MlaCache, KimiK2KvBytesPerToken) {
  const ModelConfig c = ModelConfig::from_hf(kimi_k2_config(), "kimi_k2 config.json");
  EXPECT_EQ(c.kv_key_floats(), 576);
  EXPECT_EQ(c.kv_value_floats(), 0);
  EXPECT_EQ(kv_bytes_per_token(c, 2), 70272);  // BF16: 61 x 576 x 2
  EXPECT_EQ(kv_bytes_per_token(c), 140544);    // strata's f32 cache
  EXPECT_EQ(kv_bytes_per_block(c, 16), 140544 * 16);
  EXPECT_EQ(num_kv_blocks_for_budget(int64_t(1) << 30, c, 16), (int64_t(1) << 30) / (140544 * 16));
}

// Both forms over the same weights and inputs: two sequences prefilled in
// one batch over scattered blocks, then three decode steps of both.
void expect_forms_agree(ModelConfig c) {
  std::mt19937 rng(7);
  const int64_t H = c.hidden_size, heads = c.num_attention_heads, lora = c.kv_lora_rank, rope = c.rope_dims(),
                nope = c.qk_nope_head_dim, vd = c.v_head_dim;
  const MlaSpec spec = layer_spec(c, 0).latent;
  std::vector<Matrix> keep;
  keep.reserve(8 + 2 * size_t(heads));
  auto matrix = [&](int64_t rows, int64_t cols) { return keep.emplace_back(rows, cols, rng, 1.0f / std::sqrt(float(cols))).view; };
  MlaWeights w;
  if (c.q_lora_rank > 0) {
    w.q_a = matrix(c.q_lora_rank, H);
    w.q_b = matrix(heads * (nope + rope), c.q_lora_rank);
    w.q_a_norm.assign(size_t(c.q_lora_rank), 1.1f);
  } else {
    w.q = matrix(heads * (nope + rope), H);
  }
  w.kv_a = matrix(lora + rope, H);
  w.kv_a_norm.assign(size_t(lora), 0.9f);
  for (int64_t h = 0; h < heads; ++h) {
    w.k_b.push_back(matrix(lora, nope));
    w.v_b.push_back(matrix(vd, lora));
  }
  w.o = matrix(H, heads * vd);

  constexpr int32_t kBlock = 4;
  PagedKVCache naive_kv(c, 16, kBlock), absorbed_kv(c, 16, kBlock);
  const std::vector<int32_t> table0 = {7, 2, 11}, table1 = {5, 0, 9};
  for (PagedKVCache* kv : {&naive_kv, &absorbed_kv}) {
    kv->bind(0, &table0);
    kv->bind(1, &table1);
  }
  Workspace ws;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto run = [&](std::vector<int32_t> pos, std::vector<int32_t> slots) {
    const int64_t n = int64_t(pos.size());
    std::vector<float> x(size_t(n * H)), a(size_t(n * H)), b(size_t(n * H));
    for (float& v : x) v = normal(rng);
    const BatchRows rows{n, pos.data(), slots.data()};
    mla_block(spec, w, rows, x.data(), a.data(), naive_kv.layer(0), ws, MlaForm::Naive);
    mla_block(spec, w, rows, x.data(), b.data(), absorbed_kv.layer(0), ws, MlaForm::Absorbed);
    double scale = 0;
    for (float v : a) scale = std::max(scale, double(std::fabs(v)));
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * scale + 1e-6) << i;
  };
  run({0, 1, 2, 3, 4, 0, 1, 2}, {0, 0, 0, 0, 0, 1, 1, 1});  // prefill: 5 + 3 rows
  for (int32_t step = 0; step < 3; ++step) run({5 + step, 3 + step}, {0, 1});
}

ModelConfig small_mla_config() {
  ModelConfig c = synth_preset("tiny", "deepseek_v3");
  c.num_hidden_layers = 1;
  c.mlp_only_layers = {};
  return c;
}

TEST(MlaBlock, NaiveAndAbsorbedFormsAgree) {
  expect_forms_agree(small_mla_config());
  ModelConfig no_q_lora = small_mla_config();
  no_q_lora.q_lora_rank = 0;
  no_q_lora.rope_scaling.enabled = false;
  expect_forms_agree(no_q_lora);
}

// Every solution of mla_paged_attention that runs here gives the scalar
// reference's outputs, for K2's row (512 + 64) and an odd small one (32 + 8),
// over positions scattered in blocks.
TEST(MlaAttentionKernel, SolutionsMatchTheReference) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // Named variables, not a structured binding: clang 14 cannot capture one in a lambda.
  for (const auto& shape : {std::pair<int64_t, int64_t>{512, 64}, {32, 8}}) {
    const int64_t lora = shape.first, rope = shape.second;
    const int64_t width = lora + rope, heads = 5;
    constexpr int32_t kBlock = 8, kKeys = 37;
    const std::vector<int32_t> table = {4, 0, 3, 1, 2};
    std::vector<float> cache(size_t(5 * kBlock * width)), q(size_t(heads * width));
    for (float& v : cache) v = normal(rng);
    for (float& v : q) v = normal(rng) * 0.2f;
    auto run = [&](const Solution& s) {
      std::vector<float> out(size_t(heads * lora));
      s.kernel(kMlaPagedAttention)(MlaAttentionArgs{lora, rope, heads, q.data(), out.data(), 0, kKeys, cache.data(),
                                                    table.data(), kBlock, kBlock * width, width, 0.1f});
      return out;
    };
    const auto solutions = runnable_solutions(kMlaPagedAttention.name);
    ASSERT_FALSE(solutions.empty());
    const std::vector<float> want = run(*solutions[0]);
    for (const Solution* s : solutions) {
      const std::vector<float> got = run(*s);
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << s->name << " " << i;
    }
  }
}

// Split-KV on the kernel: positions [0, n) attended chunk by chunk, each
// chunk's latent outputs and softmax states merged per head, equal the whole
// range, for every solution, K2's row and an odd one, n around the 16-key
// tile and the block size of 5, and chunks of one key.
TEST(MlaAttentionKernel, KeyChunksMergeToTheWholeRange) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const auto& shape : {std::pair<int64_t, int64_t>{512, 64}, {32, 8}}) {
    const int64_t lora = shape.first, rope = shape.second;  // clang 14 cannot capture a structured binding
    const int64_t width = lora + rope, heads = 6;
    constexpr int32_t kBlock = 5;
    for (const int32_t n_keys : {1, 2, 16, 17, 31, 64, 101}) {
      const int32_t n_blocks = (n_keys + kBlock - 1) / kBlock;
      std::vector<int32_t> table(static_cast<size_t>(n_blocks));
      for (int32_t b = 0; b < n_blocks; ++b) table[size_t(b)] = (b * 3 + 1) % n_blocks;
      if (n_blocks % 3 == 0) std::iota(table.begin(), table.end(), 0);
      std::vector<float> cache(size_t(n_blocks * kBlock * width)), q(size_t(heads * width));
      for (float& v : cache) v = normal(rng);
      for (float& v : q) v = normal(rng) * 0.2f;
      auto args = [&](float* out, int32_t begin, int32_t end, SoftmaxState* states) {
        return MlaAttentionArgs{lora, rope, heads, q.data(), out, begin, end, cache.data(), table.data(),
                                kBlock, kBlock * width, width, 0.1f, states};
      };
      std::vector<float> want(size_t(heads * lora));
      mla_attention_scalar(args(want.data(), 0, n_keys, nullptr));
      for (const Solution* s : runnable_solutions(kMlaPagedAttention.name)) {
        const MlaAttentionFn fn = s->kernel(kMlaPagedAttention);
        for (const KeyChunks& chunks : key_chunkings(n_keys)) {
          SCOPED_TRACE(::testing::Message() << s->name << " width " << width << " keys " << n_keys << " chunks of "
                                            << chunks[0].second << ", " << chunks.size() << " chunks");
          std::vector<float> parts(chunks.size() * size_t(heads * lora));
          std::vector<SoftmaxState> states(chunks.size() * size_t(heads));
          for (size_t c = 0; c < chunks.size(); ++c) {
            fn(args(&parts[c * size_t(heads * lora)], chunks[c].first, chunks[c].second, &states[c * size_t(heads)]));
          }
          std::vector<float> got(want.size());
          for (int64_t h = 0; h < heads; ++h) {
            merge_attention_parts(lora, int64_t(chunks.size()), &parts[size_t(h * lora)], heads * lora,
                                  &states[size_t(h)], heads, &got[size_t(h * lora)]);
          }
          for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << i;
        }
      }
    }
  }
}

// Split-KV in the block: decoding one sequence (and, in a second case, a
// long and a short one together) with the keys split across threads gives
// the unsplit outputs, over blocks of 3 positions, at context lengths whose
// chunks end inside blocks and tiles.
TEST(MlaBlock, SplitKvDecodeEqualsUnsplit) {
  ThreadPool& pool = ThreadPool::global();
  if (pool.size() < 2) GTEST_SKIP() << "one thread: attention is never split";
  const SplitKvSettings saved = split_kv_settings();
  split_kv_settings().min_chunk_keys = 16;
  ModelConfig c = small_mla_config();
  std::mt19937 rng(13);
  const int64_t H = c.hidden_size, heads = c.num_attention_heads, lora = c.kv_lora_rank, rope = c.rope_dims(),
                nope = c.qk_nope_head_dim, width = lora + rope;
  const MlaSpec spec = layer_spec(c, 0).latent;
  std::vector<Matrix> keep;
  keep.reserve(8 + 2 * size_t(heads));
  auto matrix = [&](int64_t rows, int64_t cols) { return keep.emplace_back(rows, cols, rng, 1.0f / std::sqrt(float(cols))).view; };
  MlaWeights w;
  w.q_a = matrix(c.q_lora_rank, H);
  w.q_b = matrix(heads * (nope + rope), c.q_lora_rank);
  w.q_a_norm.assign(size_t(c.q_lora_rank), 1.0f);
  w.kv_a = matrix(width, H);
  w.kv_a_norm.assign(size_t(lora), 1.0f);
  for (int64_t h = 0; h < heads; ++h) {
    w.k_b.push_back(matrix(lora, nope));
    w.v_b.push_back(matrix(c.v_head_dim, lora));
  }
  w.o = matrix(H, heads * c.v_head_dim);

  constexpr int32_t kBlock = 3, kMaxKeys = 700;
  const int32_t n_blocks = (kMaxKeys + kBlock - 1) / kBlock;
  PagedKVCache kv(c, 2 * n_blocks, kBlock);
  std::vector<int32_t> table0(static_cast<size_t>(n_blocks)), table1(static_cast<size_t>(n_blocks));
  for (int32_t b = 0; b < n_blocks; ++b) {
    table0[size_t(b)] = 2 * (n_blocks - 1 - b);
    table1[size_t(b)] = 2 * b + 1;
  }
  kv.bind(0, &table0);
  kv.bind(1, &table1);
  // Cached latent rows as attention sees them: normalised-size values.
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int32_t slot : {0, 1})
    for (int32_t p = 0; p < kMaxKeys; ++p) {
      float* row = kv.key(0, slot, p);
      for (int64_t i = 0; i < width; ++i) row[i] = normal(rng);
    }
  Workspace ws;
  auto decode = [&](std::vector<int32_t> pos, std::vector<int32_t> slots, bool split) {
    split_kv_settings().enabled = split;
    const int64_t n = int64_t(pos.size());
    std::mt19937 x_rng(17);
    std::vector<float> x(size_t(n * H)), out(size_t(n * H));
    for (float& v : x) v = normal(x_rng);
    mla_block(spec, w, BatchRows{n, pos.data(), slots.data()}, x.data(), out.data(), kv.layer(0), ws);
    return out;
  };
  const std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> cases = {
      {{16}, {0}}, {{17}, {0}}, {{100}, {0}}, {{256}, {0}}, {{257}, {0}}, {{699}, {0}}, {{650, 20}, {0, 1}}};
  for (const auto& [pos, slots] : cases) {
    SCOPED_TRACE(::testing::Message() << "position " << pos[0] << ", " << pos.size() << " rows");
    int64_t total = 0;
    for (int32_t p : pos) total += p + 1;
    if (int64_t(pos.size()) < pool.size()) ASSERT_GT(split_kv_chunk_keys(int64_t(pos.size()), total, pos[0] + 1, pool.size()), 0);
    const std::vector<float> unsplit = decode(pos, slots, false), split = decode(pos, slots, true);
    double scale = 0;
    for (float v : unsplit) scale = std::max(scale, double(std::fabs(v)));
    for (size_t i = 0; i < unsplit.size(); ++i) ASSERT_NEAR(split[i], unsplit[i], 1e-5 * scale) << i;
  }
  split_kv_settings() = saved;
}

// strata's logits for every position of one sequence, the whole sequence as one batch.
std::vector<float> strata_logits(const Model& m, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = m.config();
  const int64_t n = int64_t(tokens.size());
  ContiguousKVCache kv(c, 1, int32_t(n));
  std::vector<int32_t> pos(static_cast<size_t>(n)), slots(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) pos[size_t(i)] = int32_t(i);
  std::vector<float> hidden(size_t(n * c.hidden_size)), logits(size_t(n * c.vocab_size));
  m.embed(tokens.data(), n, hidden.data());
  m.forward(BatchRows{n, pos.data(), slots.data()}, 0, c.num_hidden_layers, hidden.data(), kv);
  m.logits(hidden.data(), n, logits.data());
  return logits;
}

// The numpy reference (tests/reference/deepseek_v3_ref.py: naive MLA, HF's
// de-interleave-then-rotate-halves RoPE, YaRN with the config's betas and an
// mscale unequal to mscale_all_dim, which llama.cpp cannot express) gives
// strata's logits within 1e-4 of their scale.
void expect_matches_numpy(const ModelConfig& config, const fs::path& folder) {
  SynthOptions o;
  o.config = config;
  o.format = SynthFormat::HF;
  o.dtype = DType::F32;
  o.seed = 9;
  o.tokenizer_dir = oracle_fixture::kTokenizerDir;
  synthesize_model(folder.string(), o);
  const std::vector<int32_t> tokens = {9707, 11, 1879, 0, 42, 1000, 77, 5, 151643, 3};
  std::string list;
  for (int32_t t : tokens) list += (list.empty() ? "" : ",") + std::to_string(t);
  const fs::path out = folder / "ref_logits.bin";
  const std::string cmd = "/usr/bin/python3 " + std::string(STRATA_SOURCE_DIR) + "/tests/reference/deepseek_v3_ref.py " +
                          folder.string() + " " + list + " " + out.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(out, std::ios::binary);
  std::vector<float> want(fs::file_size(out) / 4);
  in.read(reinterpret_cast<char*>(want.data()), std::streamsize(want.size() * 4));
  const std::vector<float> got = strata_logits(*Model::load(folder.string()), tokens);
  ASSERT_EQ(got.size(), want.size());
  double scale = 0, worst = 0;
  for (float v : want) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - want[i])));
  EXPECT_LE(worst, 1e-4 * std::max(1.0, scale));
}

TEST(DeepseekNumpy, YarnWithHfBetasAndMscaleMatches) {
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) STRATA_ORACLE_MISSING("/usr/bin/python3 with numpy is not available");
  const fs::path dir = oracle_fixture::make_temp_dir("test_mla_numpy");
  ModelConfig c = synth_preset("tiny", "deepseek_v3");
  c.rope_scaling.beta_fast = 1.0;  // K2's betas: ramp over pairs 2-3 here, not llama.cpp's 0-3
  c.rope_scaling.beta_slow = 1.0;
  c.rope_scaling.mscale = 0.7;  // cos/sin scaled by g(4, 0.7) / g(4, 1)
  expect_matches_numpy(c, dir / "yarn");
  c.q_lora_rank = 0;
  c.num_hidden_layers = 4;
  c.mlp_only_layers = {0, 1};
  c.n_group = 1;
  c.topk_group = 1;
  c.n_shared_experts = 2;
  expect_matches_numpy(c, dir / "no_q_lora");
  fs::remove_all(dir);
}

class DeepseekModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = oracle_fixture::make_temp_dir("test_mla"); }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override { ASSERT_TRUE(oracle_fixture::oracle_installed()); }

  static SynthOptions options(const char* arch) {
    SynthOptions o;
    o.config = synth_preset("tiny", arch);
    o.format = SynthFormat::HF;
    o.dtype = DType::BF16;
    o.seed = 5;
    o.tokenizer_dir = oracle_fixture::kTokenizerDir;
    return o;
  }
  static void rewrite_config(const fs::path& folder, const std::function<void(json&)>& edit) {
    std::ifstream in(folder / "config.json");
    json j = json::parse(in);
    edit(j);
    std::ofstream(folder / "config.json") << j.dump(2);
  }
  static std::string load_error(const fs::path& folder) {
    try {
      Model::load(folder.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "(loaded)";
  }

  static fs::path dir_;
};
fs::path DeepseekModelTest::dir_;

// `synth --arch kimi_k2 --quant int4 --format hf`: routed experts as
// compressed-tensors INT4 g32, everything in K2 Thinking's ignore list BF16,
// sharded safetensors with an index; it loads and decodes.
TEST_F(DeepseekModelTest, KimiK2ThinkingInt4Layout) {
  SynthOptions o = options("kimi_k2");
  o.quant = SynthQuant::Int4;
  o.shard_bytes = 4 << 20;
  const fs::path folder = dir_ / "k2_int4";
  synthesize_model(folder.string(), o);
  std::ifstream in(folder / "config.json");
  const json config = json::parse(in);
  EXPECT_EQ(config["architectures"][0], "DeepseekV3ForCausalLM");
  EXPECT_EQ(config["model_type"], "kimi_k2");
  const json q = config["quantization_config"];
  EXPECT_EQ(q["format"], "pack-quantized");
  EXPECT_EQ(q["config_groups"]["group_0"]["weights"]["group_size"], 32);
  EXPECT_EQ(q["ignore"], json({"lm_head", "re:.*self_attn.*", "re:.*shared_experts.*",
                               "re:.*mlp\\.(gate|up|gate_up|down)_proj.*"}));
  std::ifstream index_in(folder / "model.safetensors.index.json");
  ASSERT_TRUE(index_in) << "no index";
  const json map = json::parse(index_in)["weight_map"];
  EXPECT_TRUE(map.contains("model.layers.1.mlp.experts.7.down_proj.weight_packed"));
  EXPECT_TRUE(map.contains("model.layers.1.mlp.shared_experts.down_proj.weight"));
  EXPECT_TRUE(map.contains("model.layers.0.mlp.gate_proj.weight"));
  EXPECT_TRUE(map.contains("model.layers.0.self_attn.kv_b_proj.weight"));
  EXPECT_TRUE(map.contains("model.layers.2.mlp.gate.e_score_correction_bias"));
  auto model = Model::load(folder.string());
  std::vector<float> logits;
  oracle_fixture::strata_greedy(*model, model->tokenizer().encode("Hello"), 3, 1, &logits);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

// DeepSeek-V3 ships FP8 block-scaled weights, kv_b_proj included (decoded
// once at load, since it is transposed and sliced per head): the folder gives
// the logits of its exactly dequantized F32 twin.
TEST_F(DeepseekModelTest, Fp8FolderMatchesItsDequantizedTwin) {
  synthesize_model((dir_ / "fp8_src").string(), options("deepseek_v3"));
  const auto dequantized = fp8_checkpoint::write_fp8_copy(dir_ / "fp8_src", dir_ / "fp8");
  ASSERT_EQ(dequantized.count("model.layers.0.self_attn.kv_b_proj"), 1u);
  fp8_checkpoint::write_dequantized_twin(dir_ / "fp8_src", dequantized, dir_ / "fp8_twin");
  auto fp8 = Model::load((dir_ / "fp8").string());
  auto twin = Model::load((dir_ / "fp8_twin").string());
  const std::vector<int32_t> prompt = fp8->tokenizer().encode("The quick brown fox");
  std::vector<float> a, b;
  const auto steps_fp8 = oracle_fixture::strata_greedy(*fp8, prompt, 6, 1, &a);
  const auto steps_twin = oracle_fixture::strata_greedy(*twin, prompt, 6, 1, &b);
  ASSERT_EQ(a.size(), b.size());
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(a[i] - b[i])));
  EXPECT_LT(max_diff, 1e-4);
  for (size_t s = 0; s < steps_fp8.size(); ++s) EXPECT_EQ(steps_fp8[s].token, steps_twin[s].token) << s;
}

TEST_F(DeepseekModelTest, MtpLayersSkippedAndBadInputNamed) {
  const fs::path folder = dir_ / "bad";
  synthesize_model(folder.string(), options("deepseek_v3"));
  rewrite_config(folder, [](json& j) { j["num_nextn_predict_layers"] = 1; });
  testing::internal::CaptureStderr();
  auto model = Model::load(folder.string());
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("skipping the 1 multi-token-prediction modules"), std::string::npos) << log;

  rewrite_config(folder, [](json& j) { j["rope_scaling"]["type"] = "linear"; });
  EXPECT_NE(load_error(folder).find("rope_scaling type 'linear' is not supported"), std::string::npos)
      << load_error(folder);
  rewrite_config(folder, [](json& j) { j["rope_scaling"]["type"] = "yarn"; j["kv_lora_rank"] = 0; });
  EXPECT_NE(load_error(folder).find("kv_lora_rank = 0"), std::string::npos) << load_error(folder);
  rewrite_config(folder, [](json& j) { j["kv_lora_rank"] = 32; j["qk_rope_head_dim"] = 6; });
  EXPECT_NE(load_error(folder).find("self_attn.q_b_proj.weight"), std::string::npos) << load_error(folder);
  rewrite_config(folder, [](json& j) { j["qk_rope_head_dim"] = 8; j["v_head_dim"] = 12; });
  EXPECT_NE(load_error(folder).find("self_attn.kv_b_proj.weight"), std::string::npos) << load_error(folder);
  rewrite_config(folder, [](json& j) { j["v_head_dim"] = 16; });
  ASSERT_EQ(load_error(folder), "(loaded)");

  // A checkpoint routed without the bias, declared noaux_tc: the missing tensor is named.
  SynthOptions o = options("deepseek_v3");
  o.config.router_correction_bias = false;
  const fs::path no_bias = dir_ / "no_bias";
  synthesize_model(no_bias.string(), o);
  ASSERT_EQ(load_error(no_bias), "(loaded)");
  rewrite_config(no_bias, [](json& j) { j["topk_method"] = "noaux_tc"; });
  EXPECT_NE(load_error(no_bias).find("model.layers.1.mlp.gate.e_score_correction_bias"), std::string::npos)
      << load_error(no_bias);
}

}  // namespace
}  // namespace strata
