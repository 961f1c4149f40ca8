// `strata generate` as a subprocess on a tiny synthetic model: it runs the
// serving Engine (its greedy tokens are the engine's, stop strings end it as
// they end a served request), its --repeats JSON carries the medians, the
// spread and the cold first forward, and bad flags give one-line errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <map>
#include <string>

#include "engine/engine.h"
#include "kernels/int4_gemm.h"
#include "kernels/matmul.h"
#include "kernels/solution_registry.h"
#include "model/model.h"
#include "tools/synth.h"

using namespace strata;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct CliRun {
  int status;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Single-quoted for the shell, so any text (a stop string) passes unchanged.
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CliRun run_strata(const std::string& args) {
  const fs::path err_file = fs::temp_directory_path() / ("strata_test_generate_err_" + std::to_string(::getpid()));
  const std::string cmd = std::string(STRATA_BINARY) + " " + args + " 2>" + err_file.string();
  CliRun run;
  // Under heavy load popen's fork can fail; that is a failed run, not a crash of the test.
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    run.status = -1;
    run.err = "popen failed: " + std::string(std::strerror(errno));
    return run;
  }
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) run.out.append(buf.data(), n);
  run.status = pclose(p);
  if (FILE* e = fopen(err_file.c_str(), "r")) {
    while (size_t n = fread(buf.data(), 1, buf.size(), e)) run.err.append(buf.data(), n);
    fclose(e);
  }
  fs::remove(err_file);
  return run;
}

class GenerateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("strata_test_generate_" + std::to_string(::getpid()) + "_" +
                                                     std::to_string(std::random_device{}())));
    SynthOptions options;
    options.config = synth_preset("tiny", "qwen3_moe");
    options.tokenizer_dir = default_synth_tokenizer_dir();
    options.seed = 5;
    synthesize_model(dir_->string(), options);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static json generate_json(const std::string& args) {
    const CliRun run = run_strata("generate --model " + dir_->string() + " --json " + args);
    EXPECT_EQ(run.status, 0) << run.err;
    return json::parse(run.out);
  }

  // The tiny model with near-identity layers (its greedy output copies what
  // followed the same tokens before), next to the suite's, named by `suffix`.
  static fs::path copying_model(const std::string& suffix) {
    const fs::path dir = fs::path(dir_->string() + suffix);
    SynthOptions options;
    options.config = synth_preset("tiny", "qwen3_moe");
    options.tokenizer_dir = default_synth_tokenizer_dir();
    options.seed = 5;
    options.branch_gain = 0.002f;
    synthesize_model(dir.string(), options);
    return dir;
  }

  static fs::path* dir_;
};
fs::path* GenerateTest::dir_ = nullptr;

TEST_F(GenerateTest, GreedyTokensAreTheServingEngines) {
  const json out = generate_json("--prompt-tokens 20 --max-tokens 12 --temperature 0 --ignore-eos");

  // The same request, served by an Engine in this process.
  auto model = Model::load(dir_->string());
  EngineConfig config;
  config.num_kv_blocks = 64;
  Engine engine(*model, config);
  Request request;
  for (int64_t i = 0; i < 20; ++i) request.prompt.push_back(int32_t(1000 + (i * 7919) % 50000));
  request.params.max_tokens = 12;
  request.params.ignore_eos = true;
  auto stream = engine.submit(std::move(request));
  while (engine.has_unfinished()) engine.step();
  std::vector<int32_t> tokens;
  std::string text;
  while (auto event = stream->try_next()) {
    tokens.insert(tokens.end(), event->token_ids.begin(), event->token_ids.end());
    text += event->text;
  }
  EXPECT_EQ(out["tokens"].get<std::vector<int32_t>>(), tokens);
  EXPECT_EQ(out["text"].get<std::string>(), text);
  EXPECT_EQ(out["finish_reason"], "length");
}

TEST_F(GenerateTest, RepeatsReportMedianSpreadAndFirstForward) {
  const json out = generate_json("--prompt-tokens 24 --max-tokens 6 --temperature 0 --ignore-eos --repeats 3");
  EXPECT_EQ(out["repeats"], 3);
  EXPECT_EQ(out["prompt_tokens"], 24);
  EXPECT_EQ(out["decode_tokens"], 5);  // the first token comes from the prompt pass
  EXPECT_EQ(out["tokens"].size(), 6u);
  EXPECT_GT(out["load_seconds"].get<double>(), 0);
  EXPECT_GT(out["first_forward_seconds"].get<double>(), 0);
  for (const std::string phase : {"prompt", "decode"}) {
    const double median = out[phase + "_tokens_per_second"].get<double>();
    EXPECT_GT(median, 0) << phase;
    EXPECT_LE(out[phase + "_tokens_per_second_min"].get<double>(), median) << phase;
    EXPECT_GE(out[phase + "_tokens_per_second_max"].get<double>(), median) << phase;
    // Scripts divide the token count by the seconds: that is the median rate.
    EXPECT_NEAR(out[phase + "_tokens"].get<double>() / out[phase + "_seconds"].get<double>(), median, median * 1e-9)
        << phase;
  }
}

// --batch runs copies with their own prompts at once; copy 0's prompt and
// tokens are the lone request's. --profile accounts for the prompt pass and
// the decode steps op by op, and its bytes are the ones the bandwidth
// fraction uses.
TEST_F(GenerateTest, BatchDecodesEveryCopyAndProfilesTheSteps) {
  const std::string args = "--prompt-tokens 16 --max-tokens 6 --temperature 0 --ignore-eos";
  const json single = generate_json(args);
  const json out = generate_json(args + " --batch 3 --profile");
  EXPECT_EQ(out["batch"], 3);
  EXPECT_EQ(out["prompt_tokens"], 48);
  EXPECT_EQ(out["decode_tokens"], 15);  // each copy's first token comes from its prompt pass
  EXPECT_EQ(out["tokens"], single["tokens"]);
  EXPECT_GT(out["read_bandwidth_gb_per_s"].get<double>(), 0);
  EXPECT_GT(out["decode_bandwidth_fraction"].get<double>(), 0);

  const int64_t layers = synth_preset("tiny", "qwen3_moe").num_hidden_layers;
  double bytes_per_step = 0, share = 0;
  std::map<std::string, json> ops;
  for (const json& op : out["decode_profile"]) {
    ops[op["op"]] = op;
    bytes_per_step += op.value("mb_per_step", 0.0) * 1e6;
    if (op["op"] != "join waits (within the above)") share += op["share"].get<double>();
  }
  ASSERT_TRUE(ops.count("final norm and LM head")) << out["decode_profile"];
  EXPECT_EQ(ops["final norm and LM head"]["calls_per_step"], 1);
  EXPECT_GT(ops["final norm and LM head"]["mb_per_step"].get<double>(), 0);
  EXPECT_EQ(ops["routed experts"]["calls_per_step"], layers);
  EXPECT_EQ(ops["attention"]["calls_per_step"], layers);
  EXPECT_EQ(ops["logits processing and sampling"]["calls_per_step"], 3);  // one per sequence
  EXPECT_NEAR(share, 1.0, 1e-9);  // "other" closes the sum
  EXPECT_NEAR(bytes_per_step, out["decode_bytes_per_token"].get<double>() * 3, bytes_per_step * 1e-9);

  // The prompt pass (the three prompts, up to every copy's first token) too.
  std::map<std::string, json> prompt_ops;
  double prompt_share = 0;
  for (const json& op : out["prompt_profile"]) {
    prompt_ops[op["op"]] = op;
    if (op["op"] != "join waits (within the above)") prompt_share += op["share"].get<double>();
  }
  ASSERT_TRUE(prompt_ops.count("routed experts")) << out["prompt_profile"];
  EXPECT_GE(prompt_ops["routed experts"]["calls_per_step"].get<double>(), layers);
  EXPECT_NEAR(prompt_share, 1.0, 1e-9);
}

// The prompt pass's arithmetic, counted at the kernels' dispatch points, is
// the model's: q/k/v projections are 2 x tokens x (q + k + v rows) x hidden
// per layer, and causal attention 4 x head_dim x heads per (query, key) pair.
// Its time is held to the arithmetic rates measured in the same run.
TEST_F(GenerateTest, PromptPassIsHeldToTheMeasuredArithmeticRates) {
  const int64_t tokens = 24;
  const json out = generate_json("--prompt-tokens 24 --max-tokens 2 --temperature 0 --ignore-eos --profile --repeats 2");
  const ModelConfig c = synth_preset("tiny", "qwen3_moe");
  const double qkv_rows = double((c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim);
  const double pairs = double(tokens * (tokens + 1) / 2);
  std::map<std::string, json> ops;
  for (const json& op : out["prompt_profile"]) ops[op["op"]] = op;
  const double qkv = 2.0 * tokens * qkv_rows * double(c.hidden_size * c.num_hidden_layers);
  EXPECT_NEAR(ops["q/k/v projections"]["gop_per_step"].get<double>() * 1e9, qkv, qkv * 1e-9);
  const double attention = 4.0 * pairs * double(c.head_dim * c.num_attention_heads * c.num_hidden_layers);
  EXPECT_NEAR(ops["attention"]["gop_per_step"].get<double>() * 1e9, attention, attention * 1e-9);
  EXPECT_GT(ops["routed experts"]["gop_per_step"].get<double>(), 0);
  EXPECT_EQ(ops["rmsnorm"]["gop_per_step"].get<double>(), 0);  // not multiply-add bound: not counted

  const json& work = out["prompt_work_per_pass"];
  EXPECT_GE(work["f32_fma"].get<double>() + work["int8_dot"].get<double>() + work["bf16_dot"].get<double>() +
                work["f16_fma"].get<double>(),
            qkv + attention);
  EXPECT_GT(out["compute_rates_per_s"]["f32_fma"].get<double>(), 0);
  // The numeric paths the run took (the defaults: no switch is set here).
  EXPECT_EQ(out["numeric_paths"]["gemm_bf16"], numeric_path_name(select(kGemmBf16.name).path));
  EXPECT_EQ(out["numeric_paths"]["gemm_w4a16_g32"], numeric_path_name(select(kGemmW4a16G32.name).path));
  const double fraction = out["prompt_compute_fraction"].get<double>();
  EXPECT_GT(fraction, 0);
  EXPECT_LT(fraction, 1.5);  // above 1 only through the rates' own noise
}

TEST_F(GenerateTest, SeededSamplingRepeatsItself) {
  const std::string args = "--prompt-tokens 8 --max-tokens 10 --temperature 1.5 --ignore-eos --seed 3";
  const json a = generate_json(args), b = generate_json(args + " --repeats 2");
  EXPECT_EQ(a["tokens"], b["tokens"]);
  const json other = generate_json("--prompt-tokens 8 --max-tokens 10 --temperature 1.5 --ignore-eos --seed 4");
  EXPECT_NE(a["tokens"], other["tokens"]);
}

TEST_F(GenerateTest, StopStringEndsTheTextAsTheEngineDoes) {
  const json full = generate_json("--prompt 'Once upon a time' --max-tokens 16 --temperature 0 --ignore-eos");
  const std::string text = full["text"];
  // A stop string of one whole character from the middle of the text.
  std::vector<size_t> starts;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  ASSERT_GE(starts.size(), 6u) << text;
  const size_t at = starts[starts.size() / 2];
  const std::string stop = text.substr(at, starts[starts.size() / 2 + 1] - at);

  const json out = generate_json("--prompt 'Once upon a time' --max-tokens 16 --temperature 0 --ignore-eos --stop " +
                                 quoted(stop));
  EXPECT_EQ(out["finish_reason"], "stop");
  EXPECT_EQ(out["text"].get<std::string>(), text.substr(0, text.find(stop)));
  EXPECT_LT(out["tokens"].size(), full["tokens"].size());
}

TEST_F(GenerateTest, TextModeStreamsTheTextAndReportsSpeeds) {
  const json reference = generate_json("--prompt 'Hello' --max-tokens 8 --temperature 0 --ignore-eos");
  const CliRun run = run_strata("generate --model " + dir_->string() +
                                " --prompt 'Hello' --max-tokens 8 --temperature 0 --ignore-eos --repeats 2");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, reference["text"].get<std::string>() + "\n");
  EXPECT_NE(run.err.find("first forward"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("median of 2 runs"), std::string::npos) << run.err;
}

TEST_F(GenerateTest, BadFlagsGiveOneLineErrors) {
  const std::string model = " --model " + dir_->string();
  for (const std::string args :
       {"--prompt-tokens 8 --repeats 0", "--prompt-tokens 8 --max-tokens 0", "--prompt hi --prompt-tokens 8", "",
        "--prompt-tokens 8 --stage-rule sometimes", "--prompt-tokens 8 --schedule fifo", "--prompt-tokens 8 --repeats x",
        "--prompt-tokens 8 --max-tokens 100000000", "--prompt-tokens 8 --batch 0",
        "--prompt-tokens 8 --speculative-config '{\"method\": \"ngram\"'",
        "--prompt-tokens 8 --speculative-config '{\"method\": \"eagle\", \"num_speculative_tokens\": 2}'",
        "--prompt-tokens 8 --speculative-config '{\"method\": \"draft\", \"model\": \"/nonexistent\", "
        "\"num_speculative_tokens\": 2}'"}) {
    const CliRun run = run_strata("generate" + model + " " + args);
    EXPECT_NE(run.status, 0) << args;
    EXPECT_TRUE(run.out.empty()) << args << ": " << run.out;
    EXPECT_EQ(run.err.rfind("strata: error: ", 0), 0u) << args << ": " << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << args << ": " << run.err;
  }
}

}  // namespace

// --edit re-writes a document (prompt, its greedy continuation, prompt). On
// a model synthesized with near-identity layers (--branch-gain 0.002) the
// re-written continuation copies the document, so ngram proposals are
// accepted; the greedy output is the same with and without them.
TEST_F(GenerateTest, EditWorkloadOnACopyingModelAcceptsNgramDrafts) {
  const fs::path copying = copying_model("_copying");
  const std::string args = "--model " + copying.string() +
                           " --json --prompt-tokens 12 --max-tokens 24 --temperature 0 --ignore-eos --edit --batch 2";
  const CliRun plain = run_strata("generate " + args);
  const CliRun spec = run_strata(
      "generate " + args + " --speculative-config '{\"method\": \"ngram\", \"num_speculative_tokens\": 3, \"prompt_lookup_min\": 1}'");
  fs::remove_all(copying);
  ASSERT_EQ(plain.status, 0) << plain.err;
  ASSERT_EQ(spec.status, 0) << spec.err;
  const json p = json::parse(plain.out), s = json::parse(spec.out);
  EXPECT_EQ(p["prompt_tokens"], 2 * (12 + 24 + 12));
  EXPECT_EQ(s["tokens"], p["tokens"]);
  EXPECT_FALSE(p.contains("speculative"));
  const json& stats = s["speculative"];
  EXPECT_GT(stats["drafts"].get<int64_t>(), 0);
  EXPECT_EQ(stats["acceptance_by_position"].size(), 3u);
  EXPECT_GT(stats["acceptance_rate"].get<double>(), 0.5) << stats.dump();
}

// `strata bench engine --dataset edit` builds the same workload for the
// served-engine path: every prompt is a text, its greedy continuation and the
// text again, and on a copying model ngram drafts are mostly accepted.
TEST_F(GenerateTest, BenchEngineEditDatasetAcceptsNgramDrafts) {
  const fs::path copying = copying_model("_bench_copying");
  const fs::path out = fs::temp_directory_path() / ("strata_test_bench_edit_" + std::to_string(::getpid()) + ".json");
  const std::string args = "bench engine --model " + copying.string() +
                           " --dataset edit --input-len 12 --output-len 24 --num-prompts 3 --request-rate 50"
                           " --policies chunked --kv-budget 64MiB --output-json " + out.string();
  const CliRun plain = run_strata(args);
  const CliRun spec = run_strata(args + " --speculative-config '{\"method\": \"ngram\", \"num_speculative_tokens\": 3, "
                                        "\"prompt_lookup_min\": 1}'");
  ASSERT_EQ(plain.status, 0) << plain.err << plain.out;
  ASSERT_EQ(spec.status, 0) << spec.err << spec.out;
  const json j = json::parse(std::ifstream(out));
  fs::remove(out);
  fs::remove_all(copying);
  EXPECT_EQ(j["dataset"], "edit");
  EXPECT_NE(plain.out.find("3 requests (edit x1): prompt mean 48 "), std::string::npos) << plain.out;  // 12 + 24 + 12
  const json& run = j["runs"][0];
  EXPECT_EQ(run["completed"], 3);
  EXPECT_EQ(run["prompt_tokens"], 3 * 48);
  const json& stats = run["speculative"];
  ASSERT_TRUE(stats.is_object()) << run.dump();
  EXPECT_GT(stats["draft_tokens"].get<int64_t>(), 0);
  EXPECT_GT(double(stats["accepted_tokens"].get<int64_t>()), 0.5 * double(stats["draft_tokens"].get<int64_t>())) << stats.dump();
  EXPECT_EQ(stats["accepted_per_position"].size(), 3u);
}
