#pragma once
// A FlashInfer-Trace dataset folder, in flashinfer-bench's layout:
//   definitions/<op_type>/<definition>.json
//   workloads/<op_type>/<definition>.jsonl
//   solutions/<author>/<op_type>/<definition>/<solution>.json
//   traces/<author>/<op_type>/<definition>.jsonl
//   blob/workloads/<op_type>/<definition>/<definition>_<uuid>.safetensors
// Loading collects every problem instead of stopping at the first, so that
// `strata kernels validate` can list them all.
#include <string>
#include <vector>

#include "workbench/definition.h"

namespace strata {

struct Dataset {
  std::string root;
  std::vector<Definition> definitions;
  std::vector<std::string> errors;    // each names its file
  std::vector<std::string> warnings;

  const Definition* find(const std::string& name) const;
};

Dataset load_dataset(const std::string& root);

// What the Python side says of one definition's reference.
struct ReferenceCheck {
  std::string definition;
  enum class Status { Ran, Parsed, Skipped, Error } status;
  std::string message;
};

// Parses every reference and constraint with Python's ast (a top-level
// `def run` required). With `run`, and when torch imports, also runs each
// reference on generated inputs (valid index tensors for the paged-attention
// and MoE inputs) and checks its outputs' count, shapes, dtypes and
// finiteness against the definition. Python is `$STRATA_PYTHON`, else
// /usr/bin/python3, else python3; throws Error when none runs.
std::vector<ReferenceCheck> check_references(const std::vector<Definition>& defs, bool run);

}  // namespace strata
