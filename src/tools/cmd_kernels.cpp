// `strata kernels`: the kernel workbench's FlashInfer-Trace datasets.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <memory>

#include <bit>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "tools/commands.h"
#include "workbench/dataset.h"
#include "workbench/dataset_writer.h"
#include "workbench/in_tree_solutions.h"
#include "workbench/inputs.h"
#include "workbench/kernel_table.h"
#include "workbench/leaderboard.h"
#include "workbench/out_of_tree_solution.h"
#include "workbench/paged_workloads.h"
#include "workbench/runner.h"

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

struct BenchArgs {
  std::string dataset, out;
  std::vector<std::string> definitions, solutions;
  std::vector<int64_t> synthetic_sizes = {1, 16, 128};
  int64_t max_tokens = 0;
  int workloads_per_bucket = 0;
  std::string reference = "auto";
  double max_input_gib = 4;
  RunnerOptions runner;
};

double input_bytes(const Definition& def, const Workload& w) {
  double bytes = 0;
  for (const DefinitionTensor& t : def.inputs) {
    double n = double(trace_dtype_bytes(t.dtype));
    for (int64_t d : concrete_shape(t, def, w.axes)) n *= double(d);
    bytes += n;
  }
  return bytes;
}

// The process that runs the definitions' Python references, per --reference:
// auto uses it when torch imports, python requires it, baseline never starts it.
std::unique_ptr<PythonReference> start_python_reference(const BenchArgs& a) {
  if (a.reference == "baseline") return nullptr;
  try {
    auto python = std::make_unique<PythonReference>(a.runner.reference_timeout_seconds);
    fmt::print("expected outputs: the definitions' Python references ({})\n", python->description());
    return python;
  } catch (const Error& e) {
    if (a.reference == "python") throw;
    fmt::print("expected outputs: the scalar baselines ({})\n", e.what());
    return nullptr;
  }
}

bool selected(const std::vector<std::string>& names, const std::string& name) {
  return names.empty() || std::find(names.begin(), names.end(), name) != names.end();
}

// The largest var-axis value of a workload: its token count.
int64_t tokens_of(const Workload& w) {
  int64_t t = 0;
  for (const auto& [name, v] : w.axes) t = std::max(t, v);
  return t;
}

// Drops workloads above --max-tokens, and keeps at most --workloads-per-bucket
// per power-of-two token bucket (the buckets apply chooses by), the first ones.
std::vector<Workload> selected_workloads(std::vector<Workload> all, const BenchArgs& a) {
  std::map<uint64_t, int> in_bucket;
  std::vector<Workload> out;
  for (Workload& w : all) {
    const int64_t tokens = tokens_of(w);
    if (a.max_tokens > 0 && tokens > a.max_tokens) continue;
    if (a.workloads_per_bucket > 0 && in_bucket[std::bit_ceil(uint64_t(tokens))]++ >= a.workloads_per_bucket) continue;
    out.push_back(std::move(w));
  }
  return out;
}

bool same_folder(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::exists(a) && std::filesystem::equivalent(a, b, ec);
}

// A registry solution as a Solution record: its code is in the strata binary.
TraceSolution builtin_record(const Definition& def, const RunnableSolution& s) {
  TraceSolution r;
  r.name = s.name;
  r.definition = def.name;
  r.author = s.author;
  r.description = "strata's registry solution of kernel definition " + def.tag("strata_kernel").value_or("?");
  r.spec.language = "cpp";
  r.spec.target_hardware = s.target_hardware;
  r.spec.entry_point = "builtin.cpp::" + s.builtin;
  r.sources = {{"builtin.cpp", "// compiled into the strata binary; listed in src/kernels/solution_registry.cpp\n"}};
  return r;
}

// Runs every selected definition's solutions (strata's own and the dataset's
// out-of-tree cpp ones) on its workloads (or synthetic ones) and writes the
// result as a dataset under --out.
void bench(const BenchArgs& a) {
  const Dataset d = load_dataset(a.dataset);
  for (const std::string& e : d.errors) fmt::print(stderr, "warning: skipped: {}\n", e);
  const std::string build_dir = (std::filesystem::path(a.out) / "build").string();
  const std::unique_ptr<PythonReference> python = start_python_reference(a);
  int benched = 0;
  for (const Definition& def : d.definitions) {
    if (!selected(a.definitions, def.name)) continue;
    std::vector<RunnableSolution> solutions = in_tree_solutions(def);
    if (solutions.empty()) {
      fmt::print("{}: skipped: no baseline (strata has no adapter for it yet)\n", def.name);
      continue;
    }
    std::vector<TraceSolution> records;
    for (const RunnableSolution& s : solutions) records.push_back(builtin_record(def, s));
    std::map<std::string, std::string> compile_errors;  // solution -> compiler log
    for (const TraceSolution& s : d.solutions) {
      if (s.definition != def.name) continue;
      records.push_back(s);
      CompiledSolution c = compile_solution(s, build_dir);
      if (c.runnable) {
        solutions.push_back(std::move(*c.runnable));
      } else {
        compile_errors[s.name] = c.log;
      }
    }
    std::erase_if(solutions, [&](const RunnableSolution& s) { return s.author != "baseline" && !selected(a.solutions, s.name); });
    std::vector<Workload> workloads;
    for (const Trace& t : d.workloads)
      if (t.definition == def.name) workloads.push_back(t.workload);
    const size_t captured = workloads.size();
    workloads = selected_workloads(std::move(workloads), a);
    if (workloads.size() < captured) {
      fmt::print("{}: {} of {} workloads selected (--max-tokens, --workloads-per-bucket)\n", def.name, workloads.size(),
                 captured);
    }
    const bool synthetic = captured == 0;
    // Synthetic page tables are blobs, written into the output dataset.
    if (synthetic) {
      workloads = takes_page_table(def) ? synthetic_paged_workloads(def, a.synthetic_sizes, a.out)
                                        : synthetic_workloads(def, a.synthetic_sizes);
    }
    if (workloads.empty()) {
      fmt::print("{}: skipped: no workloads (capture some; its inputs cannot be drawn at random)\n", def.name);
      continue;
    }
    // Each trial's inputs stay in memory and go to Python too (Kimi K2's MoE layer is 9 GiB a set).
    const double limit = a.max_input_gib * double(1 << 30);
    double largest = 0;
    std::erase_if(workloads, [&](const Workload& w) {
      largest = std::max(largest, input_bytes(def, w));
      return input_bytes(def, w) > limit;
    });
    if (workloads.empty()) {
      fmt::print("{}: skipped: inputs of {:.1f} GiB per trial exceed --max-input-gib {}\n", def.name,
                 largest / double(1 << 30), a.max_input_gib);
      continue;
    }
    std::vector<Trace> traces = bench_definition(def, workloads, solutions, a.runner, synthetic ? a.out : a.dataset, python.get());
    for (const auto& [name, log] : compile_errors) {
      for (const Workload& w : workloads) {
        Evaluation e = runner_environment();
        e.status = EvaluationStatus::CompileError;
        e.timestamp = trace_timestamp();
        e.log = log;
        traces.push_back(Trace{def.name, w, name, std::move(e)});
      }
    }
    write_definition(a.out, def);
    // The output is a dataset of its own: it gets the workloads its traces
    // ran, unless it is the input dataset, which has them already.
    if (synthetic || !same_folder(a.out, a.dataset)) {
      if (!synthetic) copy_workload_blobs(a.dataset, a.out, workloads);
      append_workloads(a.out, def, workloads);
    }
    std::map<std::string, std::vector<Trace>> by_author;
    for (const TraceSolution& r : records) {
      write_solution(a.out, def.op_type, r);
      for (const Trace& t : traces)
        if (t.solution == r.name) by_author[r.author].push_back(t);
    }
    for (const auto& [author, ts] : by_author) append_traces(a.out, def, author, ts);
    fmt::print("{}\n", def.name);
    for (const Trace& t : traces) {
      const Evaluation& e = *t.evaluation;
      std::string axes;
      for (const auto& [k, v] : t.workload.axes) axes += fmt::format("{}{}={}", axes.empty() ? "" : ",", k, v);
      fmt::print("  {:<14} {:<60} {:<20} {}\n", axes, *t.solution, status_name(e.status),
                 e.performance ? fmt::format("{:10.4f} ms  {:6.2f}x", e.performance->latency_ms, e.performance->speedup_factor)
                               : e.log.substr(0, e.log.find('\n')));
    }
    ++benched;
  }
  fmt::print("{} definitions benched; traces under {}\n", benched, a.out);
}

struct ApplyArgs {
  std::string dataset, out;
  double min_speedup = kDefaultMinSpeedup;
};

void apply(const ApplyArgs& a) {
  const Dataset d = load_dataset(a.dataset);
  for (const std::string& e : d.errors) fmt::print(stderr, "warning: skipped: {}\n", e);
  std::vector<std::string> notes;
  const KernelTable table = build_kernel_table(d, notes, a.min_speedup);
  std::sort(notes.begin(), notes.end());
  notes.erase(std::unique(notes.begin(), notes.end()), notes.end());
  for (const std::string& n : notes) fmt::print("note: {}\n", n);
  for (const KernelTableEntry& e : table.entries) {
    fmt::print("{:<44} tokens<={:<5} {:<30} {:.4f} ms\n", e.definition, e.max_tokens, e.solution, e.latency_ms);
  }
  std::ofstream out(a.out);
  out << table.to_json().dump(2) << "\n";
  out.close();
  if (!out) fail("{}: write failed", a.out);
  fmt::print("{} entries written to {}\n", table.entries.size(), a.out);
}

struct ReportArgs {
  std::string dataset, out;
};

void report(const ReportArgs& a) {
  const Dataset d = load_dataset(a.dataset);
  for (const std::string& e : d.errors) fmt::print(stderr, "warning: skipped: {}\n", e);
  const std::vector<DefinitionBoard> boards = leaderboard(d);
  for (const std::string& f : write_report(boards, a.out)) fmt::print("wrote {}\n", f);
  fmt::print("{} definitions ranked\n", boards.size());
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

  auto bargs = std::make_shared<BenchArgs>();
  CLI::App* b = cmd->add_subcommand("bench", "Run every solution of the dataset's definitions on their workloads; write traces");
  b->add_option("dataset", bargs->dataset, "dataset folder (holding definitions/)")->required();
  b->add_option("--out", bargs->out, "output dataset folder (definitions, workloads, solutions and traces are written)")
      ->required();
  b->add_option("--definitions", bargs->definitions, "only these definitions")->delimiter(',');
  b->add_option("--solutions", bargs->solutions, "only these solutions (the baseline always runs)")->delimiter(',');
  b->add_option("--synthetic-sizes", bargs->synthetic_sizes, "var-axis values of the workloads made for definitions without any")
      ->delimiter(',')
      ->capture_default_str();
  b->add_option("--max-tokens", bargs->max_tokens, "skip workloads with more tokens (0: none skipped)")->capture_default_str();
  b->add_option("--workloads-per-bucket", bargs->workloads_per_bucket,
                "at most this many workloads per power-of-two token bucket (0: all)")
      ->capture_default_str();
  b->add_option("--reference", bargs->reference,
                "expected outputs from: the definitions' Python references (python), the scalar baselines (baseline), "
                "or Python where torch imports (auto)")
      ->check(CLI::IsMember({"auto", "python", "baseline"}))
      ->capture_default_str();
  b->add_option("--max-input-gib", bargs->max_input_gib, "skip workloads whose inputs take more memory per trial")
      ->capture_default_str();
  b->add_option("--warmup", bargs->runner.warmup)->capture_default_str();
  b->add_option("--iterations", bargs->runner.iterations)->capture_default_str();
  b->add_option("--trials", bargs->runner.trials, "input sets per workload")->capture_default_str()->check(CLI::PositiveNumber);
  b->add_option("--timeout", bargs->runner.timeout_seconds, "seconds per solution and workload")->capture_default_str();
  b->add_option("--reference-timeout", bargs->runner.reference_timeout_seconds,
                "seconds per call of a Python reference (its start-up, importing torch, is not counted)")
      ->capture_default_str();
  b->add_option("--max-seconds-per-trial", bargs->runner.max_seconds_per_trial)->capture_default_str();
  b->add_option("--atol", bargs->runner.atol)->capture_default_str();
  b->add_option("--rtol", bargs->runner.rtol)->capture_default_str();
  b->callback([bargs] { bench(*bargs); });

  auto aargs = std::make_shared<ApplyArgs>();
  CLI::App* ap = cmd->add_subcommand("apply", "Pick the fastest correct solution per definition and token bucket from traces");
  ap->add_option("dataset", aargs->dataset, "a dataset with traces (the --out of kernels bench)")->required();
  ap->add_option("--out", aargs->out, "kernel table JSON, for serve/generate --kernel-table")->required();
  ap->add_option("--min-speedup", aargs->min_speedup,
                 "a solution replaces the one serving selects without a table only when this many times faster")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 100.0));
  ap->callback([aargs] { apply(*aargs); });

  auto rargs = std::make_shared<ReportArgs>();
  CLI::App* rp = cmd->add_subcommand("report", "Leaderboard of a benched dataset: Markdown and a fast_p PNG");
  rp->add_option("dataset", rargs->dataset, "a dataset with traces (the --out of kernels bench)")->required();
  rp->add_option("--out", rargs->out, "folder for report.md, leaderboard.json and fast_p.png")->required();
  rp->callback([rargs] { report(*rargs); });
}

}  // namespace strata
