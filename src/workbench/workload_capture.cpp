#include "workbench/workload_capture.h"

#include <algorithm>
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
#include "workbench/index_blob.h"
#include "workbench/paged_workloads.h"

namespace strata {

namespace {

struct CapturedCall {
  std::string kernel;
  std::vector<int64_t> shape;
  int64_t tokens;
  std::vector<int32_t> q_lens, kv_lens;  // paged attention only
  std::vector<int32_t> expert_ids;       // MoE experts only
};

// The var-axis values keep_first_k_by_axes compares beyond the token count:
// a paged batch's sequences and pages (its definitions' other var axes
// follow from them).
std::pair<int64_t, int64_t> batch_axes(const KernelCall& call) {
  if (call.kv_lens.empty()) return {0, 0};
  const int64_t page_size = call.shape.back();
  int64_t pages = 0;
  for (int32_t n : call.kv_lens) pages += (n + page_size - 1) / page_size;
  return {int64_t(call.kv_lens.size()), pages};
}

// Kept for the process's life: an observer call that began before a flush
// may still be waiting on the mutex.
struct CaptureState {
  std::mutex mutex;
  bool active = false;
  CaptureOptions options;
  std::map<std::tuple<std::string, std::vector<int64_t>, int64_t, std::pair<int64_t, int64_t>>, int> seen;
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
  std::vector<int64_t> shape(call.shape.begin(), call.shape.end());
  int& count = s.seen[{std::string(call.kernel), shape, call.tokens, batch_axes(call)}];
  if (count >= s.options.keep_per_axes) return;
  if (int(s.kept.size()) >= s.options.max_workloads) {
    ++s.dropped;
    return;
  }
  ++count;
  s.kept.push_back({std::string(call.kernel), std::move(shape), call.tokens,
                    std::vector<int32_t>(call.q_lens.begin(), call.q_lens.end()),
                    std::vector<int32_t>(call.kv_lens.begin(), call.kv_lens.end()),
                    std::vector<int32_t>(call.expert_ids.begin(), call.expert_ids.end())});
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
    // The call ran on its kernel's selected numeric path (a kernel table
    // never switches it). A paged batch with any multi-row sequence is a
    // prefill (its definition also covers the one-row sequences in it).
    const bool paged = !c.kv_lens.empty(), moe = c.kernel == kMoeExpertsCall;
    const bool prefill = std::any_of(c.q_lens.begin(), c.q_lens.end(), [](int32_t n) { return n > 1; });
    std::optional<Definition> def = paged ? paged_definition_for_call(c.kernel, c.shape, prefill)
                                    : moe ? moe_definition_for_call(c.shape)
                                          : definition_for_call(c.kernel, c.shape, select(c.kernel).path);
    if (!def) continue;
    auto [it, fresh] = by_definition.try_emplace(def->name, std::move(*def), std::vector<Workload>{});
    const Definition& d = it->second.first;
    const std::string uuid = fmt::format("captured-{}-{}-{}", d.name, c.tokens, it->second.second.size());
    if (paged) {
      // Page tables are blobs; the pages are renumbered (the live cache's
      // numbering would make k_cache the size of the whole pool).
      it->second.second.push_back(paged_workload(d, c.q_lens, c.kv_lens, uuid, dir, it->second.second.size() + 1));
      continue;
    }
    Workload w;
    w.uuid = uuid;
    for (const DefinitionAxis& a : d.axes)
      if (!a.is_const) w.axes.emplace_back(a.name, c.tokens);
    if (moe) {
      // The routing that served (which experts, how many tokens each) is what the timing depends on.
      w.inputs = write_index_blob(d, uuid, {{"topk_ids", {c.tokens, c.shape[1]}, c.expert_ids}}, dir, 0);
    } else {
      for (const DefinitionTensor& t : d.inputs) w.inputs.emplace_back(t.name, WorkloadInput{});
    }
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
