#include "workbench/workload_capture.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/kernel_calls.h"
#include "kernels/solution_registry.h"
#include "workbench/dataset_writer.h"
#include "workbench/definition_templates.h"

namespace strata {

namespace {

struct CapturedCall {
  std::string kernel;
  std::vector<int64_t> shape;
  int64_t tokens;
};

// Kept for the process's life: an observer call that began before a flush
// may still be waiting on the mutex.
struct CaptureState {
  std::mutex mutex;
  bool active = false;
  CaptureOptions options;
  std::map<std::tuple<std::string, std::vector<int64_t>, int64_t>, int> seen;
  std::vector<CapturedCall> kept;
  int64_t dropped = 0;
};

CaptureState& state() {
  static CaptureState s;
  return s;
}

void observe(const KernelCall& call) {
  CaptureState& s = state();
  std::lock_guard lock(s.mutex);
  if (!s.active) return;
  int& count = s.seen[{std::string(call.kernel), std::vector<int64_t>(call.shape.begin(), call.shape.end()), call.tokens}];
  if (count >= s.options.keep_per_axes) return;
  if (int(s.kept.size()) >= s.options.max_workloads) {
    ++s.dropped;
    return;
  }
  ++count;
  s.kept.push_back({std::string(call.kernel), std::vector<int64_t>(call.shape.begin(), call.shape.end()), call.tokens});
}

}  // namespace

void start_workload_capture(const CaptureOptions& options) {
  CaptureState& s = state();
  {
    std::lock_guard lock(s.mutex);
    if (s.active) fail("a workload capture is already running");
    if (options.keep_per_axes < 1 || options.max_workloads < 1) fail("workload capture: the limits must be positive");
    std::filesystem::create_directories(options.dir);
    s.options = options;
    s.seen.clear();
    s.kept.clear();
    s.dropped = 0;
    s.active = true;
  }
  set_kernel_call_observer(observe);
}

int flush_workload_capture() {
  CaptureState& s = state();
  set_kernel_call_observer(nullptr);
  std::lock_guard lock(s.mutex);
  if (!s.active) return 0;
  s.active = false;
  const std::string& dir = s.options.dir;
  std::map<std::string, std::pair<Definition, std::vector<Workload>>> by_definition;
  for (const CapturedCall& c : s.kept) {
    // The call ran on its kernel's selected numeric path (a kernel table never switches it).
    std::optional<Definition> def = definition_for_call(c.kernel, c.shape, select(c.kernel).path);
    if (!def) continue;
    auto [it, fresh] = by_definition.try_emplace(def->name, std::move(*def), std::vector<Workload>{});
    Workload w;
    const Definition& d = it->second.first;
    w.uuid = fmt::format("captured-{}-{}-{}", d.name, c.tokens, it->second.second.size());
    for (const DefinitionAxis& a : d.axes)
      if (!a.is_const) w.axes.emplace_back(a.name, c.tokens);
    for (const DefinitionTensor& t : d.inputs) w.inputs.emplace_back(t.name, WorkloadInput{});
    it->second.second.push_back(std::move(w));
  }
  int written = 0;
  for (const auto& [name, entry] : by_definition) {
    const auto& [def, workloads] = entry;
    const auto file = std::filesystem::path(dir) / "definitions" / def.op_type / (name + ".json");
    if (!std::filesystem::exists(file)) write_definition(dir, def);
    append_workloads(dir, def, workloads);
    written += int(workloads.size());
  }
  if (s.dropped > 0) {
    fmt::print(stderr, "workload capture: {} calls dropped past the limit of {} workloads\n", s.dropped, s.options.max_workloads);
  }
  return written;
}

}  // namespace strata
