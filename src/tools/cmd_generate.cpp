// `strata generate`: one prompt in, text out, with prompt and decode speeds.
// It is a client of the serving Engine (scheduler, paged KV, executor,
// sampling, stop handling, detokenizer), so the path it times is the one
// `strata serve` runs. As llama-bench does, it warms up, then times
// --repeats runs of the same request and reports their median and spread.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>

#include "core/error.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/engine_options.h"

namespace strata {
namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  int64_t prompt_tokens = 0;  // > 0: a synthetic prompt of this many tokens (benchmarks)
  int64_t max_tokens = 64;
  std::optional<float> temperature, top_p, min_p;
  std::optional<int64_t> top_k;
  uint64_t seed = 0;
  bool ignore_eos = false;
  std::vector<std::string> stop;
  int repeats = 1;
  bool json = false;
  EngineConfig engine;
};

using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Sampling defaults: the model's generation_config.json where it has one,
// overridden by flags; greedy when neither says otherwise.
SamplingParams sampling_params(const Model& model, const GenerateOptions& o) {
  SamplingParams p = model.generation_defaults();
  if (o.temperature) p.temperature = *o.temperature;
  if (o.top_p) p.top_p = *o.top_p;
  if (o.top_k) p.top_k = *o.top_k;
  if (o.min_p) p.min_p = *o.min_p;
  p.validate();
  return p;
}

std::vector<int32_t> prompt_ids(const Tokenizer& tok, const GenerateOptions& o) {
  if (o.prompt_tokens == 0) return tok.encode_prompt(o.prompt);
  // Ordinary ids spread over the vocabulary, none of them special.
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < o.prompt_tokens; ++i) ids.push_back(int32_t(1000 + (i * 7919) % 50000));
  return ids;
}

// One request run to its end.
struct Generation {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::Length;
  double prompt_seconds = 0;  // submit to first token
  double decode_seconds = 0;  // first token to last
};

// Submits `request` and steps the engine on this thread until it finishes
// (no engine thread: a lone request should not pay for wake-ups).
Generation generate(Engine& engine, Request request, const std::function<void(const std::string&)>& on_text) {
  Generation g;
  Clock::time_point first_token, last_token;
  std::string error;
  request.on_event = [&](const StreamEvent& event) {
    const auto now = Clock::now();
    if (!event.token_ids.empty()) {
      if (g.tokens.empty()) first_token = now;
      last_token = now;
      g.tokens.insert(g.tokens.end(), event.token_ids.begin(), event.token_ids.end());
    }
    g.text += event.text;
    if (on_text && !event.text.empty()) on_text(event.text);
    if (event.finish) g.finish = *event.finish;
    if (!event.error.empty()) error = event.error;
  };
  const auto submitted = Clock::now();
  engine.submit(std::move(request));
  while (engine.has_unfinished()) engine.step();
  if (!error.empty()) fail("generation failed: {}", error);
  g.prompt_seconds = seconds_between(submitted, first_token);
  g.decode_seconds = seconds_between(first_token, last_token);
  return g;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Tokens per second over a run's median, fastest and slowest time.
struct Rate {
  int64_t tokens = 0;
  double seconds = 0, per_second = 0, min_per_second = 0, max_per_second = 0;
};

Rate rate(int64_t tokens, const std::vector<double>& seconds) {
  auto per_second = [&](double s) { return tokens > 0 && s > 0 ? double(tokens) / s : 0.0; };
  Rate r;
  r.tokens = tokens;
  r.seconds = median(seconds);
  r.per_second = per_second(r.seconds);
  r.min_per_second = per_second(*std::max_element(seconds.begin(), seconds.end()));
  r.max_per_second = per_second(*std::min_element(seconds.begin(), seconds.end()));
  return r;
}

void run_generate(GenerateOptions o) {
  if (o.prompt.empty() == (o.prompt_tokens == 0))
    fail("give exactly one of --prompt TEXT or --prompt-tokens N");
  if (o.max_tokens < 1) fail("--max-tokens must be at least 1");
  if (o.repeats < 1) fail("--repeats must be at least 1");

  const auto load_start = Clock::now();
  auto model = Model::load(o.model);
  const double load_seconds = seconds_between(load_start, Clock::now());
  const Tokenizer& tok = model->tokenizer();
  const std::vector<int32_t> prompt = prompt_ids(tok, o);
  if (prompt.empty()) fail("the prompt encodes to no tokens");
  const int64_t context = int64_t(prompt.size()) + o.max_tokens;
  if (context > model->config().max_position_embeddings)
    fail("prompt ({} tokens) plus --max-tokens ({}) exceeds the maximum context length of {} tokens",
         prompt.size(), o.max_tokens, model->config().max_position_embeddings);

  // KV for this one sequence, not a server's budget. Prefix caching is off
  // so that every repetition recomputes the whole prompt.
  o.engine.num_kv_blocks = int32_t((context + o.engine.block_size - 1) / o.engine.block_size);
  o.engine.prefix_caching = false;
  Engine engine(*model, o.engine);

  Request request;
  request.prompt = prompt;
  request.params.sampling = sampling_params(*model, o);
  request.params.seed = o.seed;
  request.params.max_tokens = int32_t(o.max_tokens);
  request.params.ignore_eos = o.ignore_eos;
  request.params.stop = o.stop;

  // Warm-up, as llama-bench's: the prompt and one decode step. Its time to
  // first token is the cold first forward after start-up.
  Request warm_up = request;
  warm_up.params.max_tokens = std::min<int32_t>(2, request.params.max_tokens);
  warm_up.params.ignore_eos = true;
  warm_up.params.stop.clear();
  const double first_forward_seconds = generate(engine, warm_up, nullptr).prompt_seconds;

  // The text is shown as the first timed run produces it; the same seed
  // makes every run produce the same tokens.
  const std::function<void(const std::string&)> print_text = [](const std::string& text) {
    fmt::print("{}", text);
    std::fflush(stdout);
  };
  std::vector<double> prompt_seconds, decode_seconds;
  Generation first;
  for (int i = 0; i < o.repeats; ++i) {
    Generation g = generate(engine, request, i == 0 && !o.json ? print_text : nullptr);
    prompt_seconds.push_back(g.prompt_seconds);
    decode_seconds.push_back(g.decode_seconds);
    if (i == 0) first = std::move(g);
  }
  // The first token comes from the prompt pass; the decode rate counts the
  // forward passes made after it.
  const Rate prompt_rate = rate(int64_t(prompt.size()), prompt_seconds);
  const Rate decode_rate = rate(int64_t(first.tokens.size()) - 1, decode_seconds);
  const char* finish_reason = to_string(first.finish);

  if (o.json) {
    nlohmann::json out = {{"text", first.text},
                          {"tokens", first.tokens},
                          {"finish_reason", finish_reason},
                          {"load_seconds", load_seconds},
                          {"first_forward_seconds", first_forward_seconds},
                          {"repeats", o.repeats},
                          {"prompt_tokens", prompt_rate.tokens},
                          {"prompt_seconds", prompt_rate.seconds},
                          {"prompt_tokens_per_second", prompt_rate.per_second},
                          {"prompt_tokens_per_second_min", prompt_rate.min_per_second},
                          {"prompt_tokens_per_second_max", prompt_rate.max_per_second},
                          {"decode_tokens", decode_rate.tokens},
                          {"decode_seconds", decode_rate.seconds},
                          {"decode_tokens_per_second", decode_rate.per_second},
                          {"decode_tokens_per_second_min", decode_rate.min_per_second},
                          {"decode_tokens_per_second_max", decode_rate.max_per_second}};
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("\n");
  auto spread = [&](const Rate& r) {
    return o.repeats > 1 ? fmt::format(" ({:.1f}-{:.1f})", r.min_per_second, r.max_per_second) : std::string();
  };
  fmt::print(stderr,
             "\nload {:.2f} s | first forward {:.2f} s | prompt: {} tokens, {:.1f}{} tokens/s | decode: {} tokens, "
             "{:.1f}{} tokens/s ({}){}\n",
             load_seconds, first_forward_seconds, prompt_rate.tokens, prompt_rate.per_second, spread(prompt_rate),
             first.tokens.size(), decode_rate.per_second, spread(decode_rate), finish_reason,
             o.repeats > 1 ? fmt::format(" | median of {} runs", o.repeats) : std::string());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt and report prompt/decode speed");
  cmd->add_option("--model", o->model, "Hugging Face model folder or .gguf file")->required();
  cmd->add_option("--prompt", o->prompt, "Prompt text (used as is, no chat template)");
  cmd->add_option("--prompt-tokens", o->prompt_tokens, "Use a synthetic prompt of N tokens instead (benchmarks)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", o->temperature, "Sampling temperature (0 = greedy; default from generation_config.json)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling threshold");
  cmd->add_option("--top-k", o->top_k, "Sample among the k most likely tokens (0 = all)");
  cmd->add_option("--min-p", o->min_p, "Drop tokens below min-p times the top probability");
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-sequence tokens");
  cmd->add_option("--stop", o->stop, "Stop at this string (repeatable; not included in the text)")
      ->allow_extra_args(false);
  cmd->add_option("--repeats", o->repeats, "Timed runs after one warm-up (the median and spread are reported)")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object with the text and the timings");
  add_schedule_options(*cmd, o->engine);
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace strata
