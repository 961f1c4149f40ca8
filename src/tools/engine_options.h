#pragma once
// The engine flags that `strata serve`, `strata bench engine` and
// `strata generate` share, declared once so that their names, defaults and
// help text cannot drift apart. Each writes straight into an EngineConfig.
namespace CLI {
class App;
}

namespace strata {

struct EngineConfig;

// Layered prefill: --num-stages, --stage-rule, --tokens-per-stage.
void add_layered_options(CLI::App& cmd, EngineConfig& config);
// --schedule and --max-num-batched-tokens, plus the layered options.
void add_schedule_options(CLI::App& cmd, EngineConfig& config);
// What the engine holds: --max-num-seqs, --max-model-len, --kv-budget,
// --num-kv-blocks, --block-size, --no-prefix-caching.
void add_capacity_options(CLI::App& cmd, EngineConfig& config);
// --speculative-config JSON (vLLM's; see engine/speculative_config.h),
// parsed when the flag is: a bad config stops the command at startup.
void add_speculative_option(CLI::App& cmd, EngineConfig& config);
// --kernel-table FILE: per-shape kernel choices from `strata kernels apply`,
// installed when the flag is parsed; each one is logged to stderr.
void add_kernel_table_option(CLI::App& cmd);
// --trace-workloads DIR and --trace-max-workloads N (workbench/workload_capture.h).
struct CaptureOptions;
void add_trace_workloads_options(CLI::App& cmd, CaptureOptions& capture);

}  // namespace strata
