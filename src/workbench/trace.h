#pragma once
// FlashInfer-Trace Workload, Evaluation and Trace (flashinfer_bench/data/
// workload.py and trace.py): what a kernel was called with, and how a
// solution did on it. A workload alone is a Trace whose solution and
// evaluation are null. Serialized as flashinfer-bench dumps them (compact
// JSONL; non-finite errors as the strings "NaN", "Infinity", "-Infinity").
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "workbench/definition.h"

namespace strata {

// One input of a workload: drawn at random, a Python scalar, or a tensor in a
// safetensors blob (path relative to the dataset root).
struct WorkloadInput {
  enum class Kind { Random, Scalar, Safetensors } kind = Kind::Random;
  nlohmann::json value;  // Scalar: an int, float or bool
  std::string path, tensor_key;
};

struct Workload {
  std::string uuid;
  std::vector<std::pair<std::string, int64_t>> axes;  // var axes, in file order
  std::vector<std::pair<std::string, WorkloadInput>> inputs;

  // Throws Error naming `where` and the field when `def` disagrees: every var
  // axis given, > 0, no others; exactly the definition's inputs; scalars
  // only for null-shaped inputs.
  void check_against(const Definition& def, const std::string& where) const;
  int64_t axis(const std::string& name) const;  // throws when absent
};

enum class EvaluationStatus {
  Passed, IncorrectShape, IncorrectNumerical, IncorrectDtype, RuntimeError, CompileError, Timeout
};
std::string_view status_name(EvaluationStatus s);

struct Evaluation {
  EvaluationStatus status = EvaluationStatus::Passed;
  std::string hardware;
  std::map<std::string, std::string> libs;
  std::string timestamp;  // ISO 8601 without a zone, as datetime.now().isoformat()
  std::string log;
  struct Correctness {
    double max_relative_error = 0, max_absolute_error = 0;
    nlohmann::json extra;  // null or an object
  };
  std::optional<Correctness> correctness;  // PASSED and INCORRECT_NUMERICAL only
  struct Performance {
    double latency_ms = 0, reference_latency_ms = 0, speedup_factor = 0;
  };
  std::optional<Performance> performance;  // PASSED only
};

struct Trace {
  std::string definition;
  Workload workload;
  std::optional<std::string> solution;
  std::optional<Evaluation> evaluation;

  // Throws Error naming `where` and the field, including the status rules
  // (correctness and performance present exactly where the status needs them).
  static Trace from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::ordered_json to_json() const;
};

// The current local time as flashinfer-bench stamps evaluations.
std::string trace_timestamp();

}  // namespace strata
