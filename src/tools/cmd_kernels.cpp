// `strata kernels`: the kernel workbench's FlashInfer-Trace datasets.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <memory>

#include "core/error.h"
#include "tools/commands.h"
#include "workbench/dataset.h"

namespace strata {

namespace {

struct ValidateArgs {
  std::string dataset;
  bool no_run = false;
};

// Prints every problem; fails when there is an error (warnings do not fail).
void validate(const ValidateArgs& a) {
  const Dataset d = load_dataset(a.dataset);
  std::vector<std::string> errors = d.errors;
  int ran = 0, parsed = 0, skipped = 0;
  for (const ReferenceCheck& c : check_references(d.definitions, !a.no_run)) {
    switch (c.status) {
      case ReferenceCheck::Status::Ran: ++ran; break;
      case ReferenceCheck::Status::Parsed: ++parsed; break;
      case ReferenceCheck::Status::Skipped:
        ++skipped;
        fmt::print("{}: reference not run: {}\n", c.definition, c.message);
        break;
      case ReferenceCheck::Status::Error: errors.push_back(fmt::format("{}: {}", c.definition, c.message)); break;
    }
  }
  for (const std::string& w : d.warnings) fmt::print("warning: {}\n", w);
  for (const std::string& e : errors) fmt::print("error: {}\n", e);
  fmt::print("{}: {} definitions, {} workloads, {} solutions, {} traces; references: {} ran, {} parsed only, {} not run; "
             "{} errors, {} warnings\n",
             a.dataset, d.definitions.size(), d.workloads.size(), d.solutions.size(), d.traces.size(), ran, parsed, skipped,
             errors.size(), d.warnings.size());
  if (!errors.empty()) fail("{}: {} errors", a.dataset, errors.size());
}

}  // namespace

void add_kernels_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("kernels", "The kernel workbench: FlashInfer-Trace definitions and datasets");
  cmd->require_subcommand(1);
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* v = cmd->add_subcommand(
      "validate", "Check a dataset's layout and schema; parse every reference, and run it where torch imports");
  v->add_option("dataset", args->dataset, "dataset folder (holding definitions/)")->required();
  v->add_flag("--no-run", args->no_run, "only parse the references (Python's ast), do not run them");
  v->callback([args] { validate(*args); });
}

}  // namespace strata
