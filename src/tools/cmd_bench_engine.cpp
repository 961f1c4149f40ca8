// `strata bench engine`: the schedule policies on the same model and trace,
// in process (see bench/engine_bench.h).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <memory>

#include "bench/engine_bench.h"
#include "core/error.h"
#include "model/model.h"
#include "tools/commands.h"
#include "tools/engine_options.h"
#include "tools/slo_schedule.h"

namespace strata {

namespace {

struct BenchEngineArgs {
  std::string model;
  std::vector<std::string> policies{"layered", "chunked", "whole"};
  std::vector<double> rates{1.0};
  bench::EngineBenchOptions options;
};

void run_bench_engine(BenchEngineArgs& a) {
  a.options.policies = a.policies;
  a.options.request_rates = a.rates;
  a.options.model_dir = a.model;
  const auto start = std::chrono::steady_clock::now();
  auto model = Model::load(a.model, {.mtp = a.options.engine.speculative.needs_mtp_modules()});
  fmt::print("loaded {} in {:.1f} s ({} layers)\n", a.model,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
             model->config().num_hidden_layers);
  bench::run_engine_bench(*model, a.options);
}

}  // namespace

void add_bench_engine_command(CLI::App& bench) {
  auto a = std::make_shared<BenchEngineArgs>();
  bench::EngineBenchOptions& o = a->options;
  auto* cmd = bench.add_subcommand("engine", "Replay a Poisson trace against each schedule policy, in process");
  cmd->add_option("--model", a->model, "Hugging Face model folder or .gguf file")->required();
  cmd->add_option("--policies", a->policies, "Schedule policies to compare: layered, whole, chunked, chunked:BUDGET, slo, slo:TBT_MS")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--dataset", o.dataset,
                  "sharegpt, arxiv or random length distribution, or edit: each prompt is a text, the model's greedy "
                  "continuation of it and the text again (where speculative decoding pays)")
      ->capture_default_str();
  cmd->add_option("--input-len", o.input_len, "Prompt tokens (random; edit: the text, twice in the prompt)")
      ->capture_default_str();
  cmd->add_option("--output-len", o.output_len, "Output tokens (random, edit; edit: also the continuation's length)")
      ->capture_default_str();
  cmd->add_option("--request-rate", a->rates, "Poisson request rates, req/s (comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--num-prompts", o.num_prompts, "Requests per run")->capture_default_str();
  cmd->add_option("--scale-lengths", o.scale_lengths, "Multiply the dataset's prompt and output lengths")
      ->capture_default_str();
  cmd->add_option("--max-num-batched-tokens", o.chunked_max_num_batched_tokens,
                  "Token budget of a chunked step (0: 512)")
      ->capture_default_str();
  cmd->add_option("--layered-max-num-batched-tokens", o.layered_max_num_batched_tokens,
                  "Token budget of a layered cohort (0: 8192)")
      ->capture_default_str();
  add_layered_options(*cmd, o.engine);
  add_slo_schedule_options(*cmd, o.engine, o.cost_profile);
  add_capacity_options(*cmd, o.engine);
  add_speculative_option(*cmd, o.engine);
  cmd->add_option("--slo", o.slo, "ttft:MS,tbt:MS - a request attains it if TTFT and every gap are within")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed for lengths, prompts and arrivals")->capture_default_str();
  cmd->add_option("--output-json", o.output_json, "Write every run's metrics here");
  cmd->add_option("--simulate", o.simulate,
                  "Also simulate every run on this hardware profile (a strata sim calibrate JSON, or 'calibrate' to "
                  "fit one first on the loaded model) and print measured vs simulated TTFT and TBT");
  cmd->callback([a] { run_bench_engine(*a); });
}

}  // namespace strata
