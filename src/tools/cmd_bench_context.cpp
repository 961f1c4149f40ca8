// `strata bench context`: decode speed against context length, the KV cache
// filled with synthetic rows (see bench/context_bench.h).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <memory>

#include "bench/context_bench.h"
#include "model/model.h"
#include "tools/commands.h"

namespace strata {

namespace {

struct BenchContextArgs {
  std::string model;
  bench::ContextBenchOptions options;
};

void run_bench_context(const BenchContextArgs& a) {
  const auto start = std::chrono::steady_clock::now();
  auto model = Model::load(a.model);
  fmt::print("loaded {} in {:.1f} s\n", a.model,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  bench::run_context_bench(*model, a.options);
}

}  // namespace

void add_bench_context_command(CLI::App& bench) {
  auto a = std::make_shared<BenchContextArgs>();
  bench::ContextBenchOptions& o = a->options;
  auto* cmd = bench.add_subcommand("context", "Decode speed against context length (synthetic KV rows, real decode steps)");
  cmd->add_option("--model", a->model, "Hugging Face model folder or .gguf file")->required();
  cmd->add_option("--contexts", o.contexts, "Context lengths (cached positions before the decoded token)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--steps", o.steps, "Timed decode steps per round and split-KV setting")->capture_default_str();
  cmd->add_option("--rounds", o.rounds, "Rounds alternating split-KV attention on and off")->capture_default_str();
  cmd->add_option("--block-size", o.block_size, "KV cache block size")->capture_default_str();
  cmd->callback([a] { run_bench_context(*a); });
}

}  // namespace strata
