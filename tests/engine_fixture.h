#pragma once
// The engine tests' shared harness: a tiny synthetic 4-layer model of an
// architecture, engine configs for every policy (small enough that prompts
// get chunked and staged), a loop that submits requests at given steps and
// collects their outputs, and the exact comparison of two outputs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/model.h"
#include "tools/synth.h"

namespace engine_test {

using namespace strata;
namespace fs = std::filesystem;

struct Output {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::string text;
  std::optional<FinishReason> finish;
  std::optional<std::string> stop_string;
  int32_t cached_tokens = 0;
  std::vector<size_t> tokens_per_event;

  void add(const StreamEvent& e) {
    tokens.insert(tokens.end(), e.token_ids.begin(), e.token_ids.end());
    tokens_per_event.push_back(e.token_ids.size());
    for (const TokenLogprob& lp : e.logprobs) logprobs.push_back(lp.logprob);
    text += e.text;
    if (e.finish) {
      finish = e.finish;
      stop_string = e.stop_string;
      cached_tokens = e.cached_tokens;
    }
  }
};

inline std::vector<int32_t> make_prompt(int32_t length, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p;
  for (int32_t i = 0; i < length; ++i) p.push_back(int32_t(1000 + rng() % 40000));
  return p;
}

inline Request greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  Request r;
  r.prompt = std::move(prompt);
  r.params.max_tokens = max_tokens;
  r.params.ignore_eos = true;
  r.params.logprobs = 0;
  return r;
}

struct QwenMoe {
  static constexpr const char* arch = "qwen3_moe";
};
struct DeepseekMla {
  static constexpr const char* arch = "deepseek_v3";
};

// An architecture's optional synth settings: MTP modules (loaded with the
// model) and the branch gain (default: synth's).
template <typename Arch>
constexpr int64_t mtp_modules() {
  if constexpr (requires { Arch::mtp_modules; }) return Arch::mtp_modules;
  return 0;
}
template <typename Arch>
constexpr float branch_gain() {
  if constexpr (requires { Arch::branch_gain; }) return Arch::branch_gain;
  return kSynthBranchGain;
}

template <typename Arch>
class EngineFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("strata_test_engine_" + std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}())));
    SynthOptions options;
    options.config = synth_preset("tiny", Arch::arch);
    options.config.num_hidden_layers = 4;
    options.tokenizer_dir = default_synth_tokenizer_dir();
    options.seed = 7;
    options.config.num_mtp_modules = mtp_modules<Arch>();
    options.branch_gain = branch_gain<Arch>();
    synthesize_model(dir_->string(), options);
    model_ = Model::load(dir_->string(), {.mtp = mtp_modules<Arch>() > 0}).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  static EngineConfig config(const std::string& policy) {
    EngineConfig c;
    c.schedule = policy;
    c.num_kv_blocks = 256;
    c.block_size = 16;
    c.max_model_len = 1024;
    c.num_stages = 4;
    c.tokens_per_stage = 16;  // prompts of 17+ tokens take several stages
    c.max_num_batched_tokens = policy == "chunked" ? 32 : 512;  // chunked splits prompts
    c.record_history = true;
    if (policy == "slo") {
      // A toy cost of 1 s per layer plus 1/8 s per row and layer against a
      // 10 s target: a prompt of 17+ tokens does not fit the 9 s it leaves
      // through all 4 layers at first, so cohorts run in stages, and new ones
      // start beside them. Seconds, not milliseconds: the policy corrects its
      // estimates by the real step times, and these tiny steps (milliseconds,
      // more under load) then always sit at the correction's floor, so the
      // schedule does not depend on the machine's load.
      c.tbt_slo_ms = 10'000;
      c.step_seconds = [](const StepPlan& plan) {
        double seconds = 0;
        for (const LayerSegment& s : layer_segments(plan)) {
          int64_t rows = 0;
          for (int32_t i : s.entries) rows += plan.entries[size_t(i)].num_tokens();
          seconds += (s.layer_end - s.layer_begin) * (1 + double(rows) / 8);
        }
        return seconds;
      };
    }
    return c;
  }

  // Submits requests[i] before step arrivals[i] and steps until all finish.
  static std::vector<Output> run(Engine& engine, const std::vector<Request>& requests,
                                 const std::vector<int>& arrivals = {}) {
    std::vector<std::shared_ptr<RequestStream>> streams(requests.size());
    std::vector<Output> outputs(requests.size());
    size_t submitted = 0;
    for (int step = 0; submitted < requests.size() || engine.has_unfinished(); ++step) {
      while (submitted < requests.size() && (arrivals.empty() || arrivals[submitted] <= step)) {
        streams[submitted] = engine.submit(requests[submitted]);
        ++submitted;
      }
      engine.step();
      for (size_t i = 0; i < submitted; ++i) {
        while (auto e = streams[i]->try_next()) outputs[i].add(*e);
      }
      if (step > 100000) ADD_FAILURE() << "engine did not finish";
    }
    return outputs;
  }

  static std::vector<Output> run(const EngineConfig& c, const std::vector<Request>& requests,
                                 const std::vector<int>& arrivals = {}) {
    Engine engine(*model_, c);
    auto out = run(engine, requests, arrivals);
    EXPECT_EQ(engine.block_manager().usage(), 0.0);
    EXPECT_EQ(engine.num_saved_activations(), 0u);
    return out;
  }

  static void expect_same(const Output& a, const Output& b, const std::string& what) {
    EXPECT_EQ(a.tokens, b.tokens) << what;
    EXPECT_EQ(a.logprobs, b.logprobs) << what << " (logits not bit-identical)";
    EXPECT_EQ(a.text, b.text) << what;
  }

  static inline fs::path* dir_ = nullptr;
  static inline Model* model_ = nullptr;
};

}  // namespace engine_test
