#pragma once
// A FlashInfer-Trace dataset folder, in flashinfer-bench's layout:
//   definitions/<op_type>/<definition>.json
//   workloads/<op_type>/<definition>.jsonl
//   solutions/<author>/<op_type>/<definition>/<solution>.json
//   traces/<author>/<op_type>/<definition>.jsonl
//   blob/workloads/<op_type>/<definition>/<definition>_<uuid>.safetensors
// Loading checks each file's place, schema and agreement with its definition
// (workloads with the definition's axes and inputs, blobs present, traces
// naming a solution of the dataset), and collects every problem instead of
// stopping at the first, so that `strata kernels validate` can list them all.
#include <string>
#include <vector>

#include "workbench/definition.h"
#include "workbench/solution.h"
#include "workbench/trace.h"

namespace strata {

struct Dataset {
  std::string root;
  std::vector<Definition> definitions;
  std::vector<Trace> workloads;  // solution and evaluation null
  std::vector<TraceSolution> solutions;
  std::vector<Trace> traces;
  std::vector<std::string> errors;  // each names its file (and line)
  std::vector<std::string> warnings;

  const Definition* find(const std::string& name) const;
  const TraceSolution* find_solution(const std::string& name) const;
};

Dataset load_dataset(const std::string& root);

// What the Python side says of one definition's reference.
struct ReferenceCheck {
  std::string definition;
  enum class Status { Ran, Parsed, Skipped, Error } status;
  std::string message;
};

// The Python the workbench runs: `$STRATA_PYTHON`, else /usr/bin/python3
// (Debian's, with the packages scripts/install-deps installs), else python3.
std::string workbench_python();

// Parses every reference and constraint with Python's ast (a top-level
// `def run` required). With `run`, and when torch imports, also runs each
// reference on generated inputs (valid index tensors for the paged-attention
// and MoE inputs) and checks its outputs' count, shapes, dtypes and
// finiteness against the definition. Throws Error when workbench_python()
// does not run.
std::vector<ReferenceCheck> check_references(const std::vector<Definition>& defs, bool run);

}  // namespace strata
