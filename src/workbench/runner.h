#pragma once
// The benchmark runner: every solution of a definition on every workload,
// checked against the baseline's outputs and timed, as flashinfer-bench's
// runner does, on this CPU:
// - per trial a fresh input set (random inputs redrawn, captured ones as
//   given); the definition's Python reference computes the expected outputs
//   where it runs (python_reference.h), otherwise the baseline (the scalar
//   reference) does, in process; the traces' environment says which
//   (libs["reference"]);
// - each (solution, workload) is evaluated in a forked child: a crash is a
//   RUNTIME_ERROR, running past the timeout a TIMEOUT (the child is killed),
//   and the runner goes on;
// - correctness per output element: it fails when |x - y| > atol and
//   |x - y| / (|y| + 1e-8) > rtol; non-finite outputs fail; the share of
//   passing elements must reach 1.0 (0.95 for op_type moe);
// - timing, single-threaded, only when correct: warm-up runs, then timed
//   iterations, each after reading a buffer twice the last-level cache so
//   that weights and KV come from memory as in serving (upstream flushes the
//   GPU's L2 likewise); the median per trial, the mean over trials. Runs stop
//   early once a trial has taken `max_seconds_per_trial`.
#include <string>
#include <vector>

#include "workbench/python_reference.h"
#include "workbench/runnable_solution.h"
#include "workbench/trace.h"

namespace strata {

struct RunnerOptions {
  int warmup = 10, iterations = 50, trials = 3;
  double atol = 1e-2, rtol = 1e-2;
  double timeout_seconds = 300;
  double reference_timeout_seconds = 600;  // per call of a Python reference
  double max_seconds_per_trial = 2;
  bool cold_cache = true;
};

// solutions[0] is the baseline. `python` (may be null) runs the definition's
// reference. Returns one trace per (solution, workload).
std::vector<Trace> bench_definition(const Definition& def, const std::vector<Workload>& workloads,
                                    const std::vector<RunnableSolution>& solutions, const RunnerOptions& options,
                                    const std::string& dataset_root, PythonReference* python);

// What an evaluation's environment says: the CPU's model name and its
// instruction sets.
Evaluation runner_environment();

}  // namespace strata
