// strata: an inference server for Mixture-of-Experts models.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "core/error.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"strata: LLM inference for Mixture-of-Experts models"};
  app.require_subcommand(1);
  // Bad flags: one line, exit code 2, like the errors the commands raise.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return fmt::format("strata: error: {}\n", e.what());
  });
  strata::add_generate_command(app);
  strata::add_synth_command(app);
  strata::add_bench_command(app);
  strata::add_quantize_command(app);
  strata::add_serve_command(app);
  strata::add_sim_command(app);
  strata::add_kernels_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const strata::Error& e) {
    fmt::print(stderr, "strata: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "strata: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
