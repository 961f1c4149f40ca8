#include "tools/engine_options.h"

#include <CLI/CLI.hpp>

#include <fmt/core.h>

#include <fstream>
#include <string>

#include "core/cache_dir.h"
#include "core/error.h"
#include "engine/engine.h"
#include "workbench/kernel_table.h"
#include "workbench/workload_capture.h"

namespace strata {

void add_layered_options(CLI::App& cmd, EngineConfig& config) {
  cmd.add_option("--num-stages", config.num_stages, "Layered prefill: most layer groups per prefill")
      ->capture_default_str();
  cmd.add_option_function<std::string>(
         "--stage-rule", [&config](const std::string& name) { config.stage_rule = parse_stage_rule(name); },
         "Layered prefill: stages per cohort")
      ->check(CLI::IsMember({"paper", "pow2"}))
      ->default_str("paper");
  cmd.add_option("--tokens-per-stage", config.tokens_per_stage, "Layered prefill: prompt tokens per stage")
      ->capture_default_str();
}

void add_schedule_options(CLI::App& cmd, EngineConfig& config) {
  cmd.add_option("--schedule", config.schedule, "Prefill scheduling policy")
      ->check(CLI::IsMember({"layered", "chunked", "whole", "slo"}))
      ->capture_default_str();
  cmd.add_option("--max-num-batched-tokens", config.max_num_batched_tokens,
                 "Token budget per step (0: the policy's default, 512 chunked, 8192 otherwise)")
      ->capture_default_str();
  add_layered_options(cmd, config);
}

void add_capacity_options(CLI::App& cmd, EngineConfig& config) {
  cmd.add_option("--max-num-seqs", config.max_num_seqs, "Most sequences in one step")->capture_default_str();
  cmd.add_option("--max-model-len", config.max_model_len, "Longest prompt + output (0: the model's context)")
      ->capture_default_str();
  cmd.add_option("--kv-budget", config.kv_budget, "KV cache size: <x>GiB, <x>MiB or <x>% of RAM")
      ->capture_default_str();
  cmd.add_option("--num-kv-blocks", config.num_kv_blocks, "KV cache blocks (overrides --kv-budget)");
  cmd.add_option("--block-size", config.block_size, "Tokens per KV block")->capture_default_str();
  cmd.add_flag_callback(
      "--no-prefix-caching", [&config] { config.prefix_caching = false; },
      "Do not reuse the KV blocks of shared prompt prefixes");
}

void add_speculative_option(CLI::App& cmd, EngineConfig& config) {
  cmd.add_option_function<std::string>(
      "--speculative-config",
      [&config](const std::string& json) { config.speculative = SpeculativeConfig::parse(json); },
      R"(Speculative decoding, as vLLM's JSON: {"method": "ngram", "num_speculative_tokens": K, )"
      R"("prompt_lookup_min": N, "prompt_lookup_max": M} (default: off))");
}

void add_kernel_table_option(CLI::App& cmd) {
  cmd.add_option_function<std::string>(
      "--kernel-table",
      [](const std::string& path) {
        std::ifstream in(path);
        if (!in) fail("--kernel-table {}: cannot read", path);
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
          fail("--kernel-table {}: not JSON: {}", path, e.what());
        }
        for (const std::string& line : install_kernel_table(KernelTable::from_json(j, path), cache_dir("solutions").string())) {
          fmt::print(stderr, "kernel table: {}\n", line);
        }
      },
      "Per-shape kernel choices from `strata kernels apply` (default: the instruction-set order)");
}

void add_trace_workloads_options(CLI::App& cmd, CaptureOptions& capture) {
  cmd.add_option("--trace-workloads", capture.dir,
                 "Record the kernel calls as FlashInfer-Trace workloads of the dataset DIR (written at exit)");
  cmd.add_option("--trace-max-workloads", capture.max_workloads, "Most workloads recorded")->capture_default_str();
}

}  // namespace strata
