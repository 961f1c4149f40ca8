#pragma once
// Each `strata` subcommand lives in its own cmd_*.cpp and adds itself to the
// command line here.
namespace CLI {
class App;
}

namespace strata {
void add_generate_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_serve_command(CLI::App& app);  // `strata serve`
void add_sim_command(CLI::App& app);
void add_bench_engine_command(CLI::App& bench);   // under `bench`
void add_bench_agentic_command(CLI::App& bench);  // under `bench`
void add_bench_context_command(CLI::App& bench);  // under `bench`
void add_kernels_command(CLI::App& app);
}  // namespace strata
