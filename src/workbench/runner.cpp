#include "workbench/runner.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/cpu_isa.h"
#include "kernels/solution_registry.h"
#include "workbench/inputs.h"

namespace strata {

namespace {

using Clock = std::chrono::steady_clock;

struct Outcome {
  EvaluationStatus status = EvaluationStatus::Passed;
  double max_abs = 0, max_rel = 0, matched_ratio = 1, latency_ms = 0;
  std::string log;
};

std::vector<TensorData> empty_outputs(const Definition& def, const Workload& w) {
  std::vector<TensorData> out;
  for (const DefinitionTensor& t : def.outputs) out.push_back(TensorData::zeros(t.dtype, concrete_shape(t, def, w.axes)));
  return out;
}

// Reads a buffer twice the last-level cache, evicting what the last call left there.
void evict_caches() {
  static std::vector<uint64_t> buffer = [] {
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc <= 0) llc = 32 << 20;
    return std::vector<uint64_t>(std::min<size_t>(size_t(2 * llc), size_t(512) << 20) / sizeof(uint64_t), 1);
  }();
  volatile uint64_t sink = 0;
  uint64_t sum = 0;
  for (size_t i = 0; i < buffer.size(); i += 8) sum += buffer[i];
  sink = sink + sum;
}

double required_ratio(const Definition& def) { return def.op_type == "moe" ? 0.95 : 1.0; }

// Compares one trial's outputs with the expected ones; false when it fails.
bool compare(const Definition& def, const std::vector<TensorData>& got, const std::vector<TensorData>& want,
             const RunnerOptions& o, Outcome& r) {
  int64_t failed = 0, total = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    for (int64_t e = 0; e < got[i].numel(); ++e) {
      const double x = got[i].value(e), y = want[i].value(e);
      if (!std::isfinite(x)) {
        r.max_abs = r.max_rel = std::isnan(x) ? NAN : INFINITY;
        r.log = fmt::format("output {} element {} is {}", def.outputs[i].name, e, x);
        return false;
      }
      const double abs_err = std::fabs(x - y), rel_err = abs_err / (std::fabs(y) + 1e-8);
      r.max_abs = std::max(r.max_abs, abs_err);
      r.max_rel = std::max(r.max_rel, rel_err);
      failed += abs_err > o.atol && rel_err > o.rtol;
      ++total;
    }
  }
  const double ratio = total ? 1.0 - double(failed) / double(total) : 1.0;
  r.matched_ratio = std::min(r.matched_ratio, ratio);
  if (ratio < required_ratio(def)) {
    r.log = fmt::format("{} of {} elements outside atol {} / rtol {}", failed, total, o.atol, o.rtol);
    return false;
  }
  return true;
}

// Runs in the child: correctness on every trial, then timing.
Outcome evaluate(const Definition& def, const Workload& w, const std::vector<PreparedCall>& calls,
                 const std::vector<std::vector<TensorData>>& expected, const RunnerOptions& o) {
  Outcome r;
  for (size_t t = 0; t < calls.size(); ++t) {
    std::vector<TensorData> out = empty_outputs(def, w);
    calls[t](out);
    if (!compare(def, out, expected[t], o, r)) {
      r.status = EvaluationStatus::IncorrectNumerical;
      return r;
    }
  }
  double sum_ms = 0;
  for (size_t t = 0; t < calls.size(); ++t) {
    std::vector<TensorData> out = empty_outputs(def, w);
    const auto start = Clock::now();
    auto spent = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
    for (int i = 0; i < o.warmup && spent() < o.max_seconds_per_trial / 4; ++i) calls[t](out);
    std::vector<double> ms;
    for (int i = 0; i < o.iterations && (ms.size() < 3 || spent() < o.max_seconds_per_trial); ++i) {
      if (o.cold_cache) evict_caches();
      const auto t0 = Clock::now();
      calls[t](out);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    sum_ms += ms[ms.size() / 2];
  }
  r.latency_ms = sum_ms / double(calls.size());
  return r;
}

nlohmann::json outcome_json(const Outcome& r) {
  return {{"status", status_name(r.status)}, {"max_abs", r.max_abs},       {"max_rel", r.max_rel},
          {"matched", r.matched_ratio},      {"latency_ms", r.latency_ms}, {"log", r.log}};
}

Outcome outcome_from_json(const nlohmann::json& j) {
  Outcome r;
  const std::string status = j.at("status").get<std::string>();
  r.status = status == "PASSED" ? EvaluationStatus::Passed : EvaluationStatus::IncorrectNumerical;
  auto num = [&](const char* k) { return j.at(k).is_number() ? j.at(k).get<double>() : NAN; };
  r.max_abs = num("max_abs"), r.max_rel = num("max_rel"), r.matched_ratio = num("matched"), r.latency_ms = num("latency_ms");
  r.log = j.at("log").get<std::string>();
  return r;
}

// Forks, evaluates in the child, and waits up to the timeout. The calls are
// prepared in the parent: the child has only the forking thread, so nothing
// it runs may wait on the thread pool (weight re-layout does).
Outcome evaluate_isolated(const Definition& def, const Workload& w, const std::vector<PreparedCall>& calls,
                          const std::vector<std::vector<TensorData>>& expected, const RunnerOptions& o) {
  int fds[2];
  if (pipe(fds) != 0) fail("runner: pipe failed");
  const std::string stderr_file = fmt::format("/tmp/strata_runner_{}_{}.log", getpid(), fds[0]);
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) fail("runner: fork failed");
  if (pid == 0) {
    close(fds[0]);
    if (FILE* f = freopen(stderr_file.c_str(), "w", stderr); !f) _exit(3);
    std::string line;
    try {
      line = outcome_json(evaluate(def, w, calls, expected, o)).dump();
    } catch (const std::exception& e) {
      line = nlohmann::json{{"error", e.what()}}.dump();
    }
    line += "\n";
    for (size_t done = 0; done < line.size();) {
      const ssize_t n = write(fds[1], line.data() + done, line.size() - done);
      if (n <= 0) _exit(4);
      done += size_t(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  const auto deadline = Clock::now() + std::chrono::duration<double>(o.timeout_seconds);
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, int(std::min<long long>(left, 1000))) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, size_t(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::string child_log;
  {
    std::ifstream in(stderr_file);
    child_log.assign(std::istreambuf_iterator<char>(in), {});
    std::remove(stderr_file.c_str());
  }
  Outcome r;
  if (timed_out) {
    r.status = EvaluationStatus::Timeout;
    r.log = fmt::format("killed after {} s", o.timeout_seconds);
  } else if (WIFSIGNALED(status)) {
    r.status = EvaluationStatus::RuntimeError;
    r.log = fmt::format("the solution's process died of signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  } else {
    try {
      const nlohmann::json j = nlohmann::json::parse(text);
      if (j.contains("error")) {
        r.status = EvaluationStatus::RuntimeError;
        r.log = j["error"].get<std::string>();
      } else {
        r = outcome_from_json(j);
      }
    } catch (const nlohmann::json::exception&) {
      r.status = EvaluationStatus::RuntimeError;
      r.log = fmt::format("the solution's process exited with status {} without a result", WEXITSTATUS(status));
    }
  }
  if (!child_log.empty()) r.log += (r.log.empty() ? "" : "\n") + child_log.substr(0, 5 << 20);
  return r;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown x86-64 CPU";
}

// A trial's expected outputs: the Python reference's where it runs, else the
// baseline's. `source` says which, and why Python did not serve.
std::vector<TensorData> expected_outputs(const Definition& def, const Workload& w, const std::vector<TensorData>& in,
                                         const RunnableSolution& baseline, PythonReference* python, std::string& source) {
  if (python) {
    try {
      std::vector<TensorData> out = python->run(def, in, empty_outputs(def, w));
      source = "python reference (" + python->description() + ")";
      return out;
    } catch (const Error& e) {
      source = fmt::format("baseline {} (the Python reference failed: {})", baseline.builtin, e.what());
    }
  } else {
    source = "baseline " + baseline.builtin;
  }
  std::vector<TensorData> out = empty_outputs(def, w);
  baseline.prepare(in)(out);
  return out;
}

}  // namespace

Evaluation runner_environment() {
  Evaluation e;
  e.hardware = cpu_model_name();
  std::string isa = std::string(isa_name(max_isa()));
  if (cpu_has({.vnni = true})) isa += "+vnni";
  if (cpu_has({.bf16 = true})) isa += "+bf16";
  e.libs = {{"isa", isa}, {"compiler", __VERSION__}, {"timing", "steady_clock, single thread, LLC evicted per iteration"}};
  return e;
}

std::vector<Trace> bench_definition(const Definition& def, const std::vector<Workload>& workloads,
                                    const std::vector<RunnableSolution>& solutions, const RunnerOptions& o,
                                    const std::string& root, PythonReference* python) {
  if (solutions.empty()) fail("{}: no solutions to run", def.name);
  const Evaluation environment = runner_environment();
  if (o.cold_cache) evict_caches();  // allocates the buffer once, before the children share it
  std::vector<Trace> traces;
  for (const Workload& w : workloads) {
    w.check_against(def, "workload " + w.uuid);
    std::vector<std::vector<TensorData>> inputs, expected;
    std::string source;
    for (int t = 0; t < o.trials; ++t) {
      inputs.push_back(make_inputs(def, w, uint64_t(t + 1), root));
      expected.push_back(expected_outputs(def, w, inputs.back(), solutions[0], python, source));
    }
    double reference_ms = 0;
    for (size_t i = 0; i < solutions.size(); ++i) {
      Outcome r;
      try {
        std::vector<PreparedCall> calls;
        for (const auto& in : inputs) calls.push_back(solutions[i].prepare(in));
        r = evaluate_isolated(def, w, calls, expected, o);
      } catch (const Error& e) {
        r.status = EvaluationStatus::RuntimeError;
        r.log = e.what();
      }
      if (i == 0) reference_ms = r.latency_ms;
      Evaluation e = environment;
      e.libs["reference"] = source;
      e.status = r.status;
      e.timestamp = trace_timestamp();
      e.log = r.log;
      if (r.status == EvaluationStatus::Passed || r.status == EvaluationStatus::IncorrectNumerical) {
        const nlohmann::json extra = required_ratio(def) < 1 ? nlohmann::json{{"matched_ratio", r.matched_ratio}} : nlohmann::json();
        e.correctness = Evaluation::Correctness{r.max_rel, r.max_abs, extra};
      }
      if (r.status == EvaluationStatus::Passed) {
        e.performance = Evaluation::Performance{r.latency_ms, reference_ms, reference_ms / r.latency_ms};
      }
      traces.push_back(Trace{def.name, w, solutions[i].name, std::move(e)});
    }
  }
  return traces;
}

}  // namespace strata
