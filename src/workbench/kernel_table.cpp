#include "workbench/kernel_table.h"

#include <algorithm>
#include <bit>
#include <map>
#include <optional>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "kernels/shape_choices.h"
#include "kernels/solution_registry.h"
#include "workbench/external_solution.h"
#include "workbench/out_of_tree_solution.h"

namespace strata {

namespace {

// The kernels whose dispatch points consult shape choices: the constant axes
// of their shape key, in the order the dispatch passes them, and the token axis.
struct Applicable {
  const char* op_type;  // a kernel also serves composite definitions (INT4 GEMMs in moe); those have no choices
  const char* kernel;
  std::vector<const char*> shape_axes;
  const char* token_axis;
};
const std::vector<Applicable>& applicable() {
  static const std::vector<Applicable> all = {
      {"gemm", "gemm_bf16", {"N", "K"}, "M"},
      {"gemm", "gemm_w4a16_g32", {"N", "K"}, "M"},
      {"rmsnorm", "rmsnorm", {"hidden_size"}, "batch_size"},
      {"rmsnorm", "fused_add_rmsnorm", {"hidden_size"}, "batch_size"},
  };
  return all;
}

// The registry solution a dataset solution runs: strata's own records name it
// as their entry point in "builtin.cpp".
std::optional<std::string> registry_solution(const Dataset& d, const std::string& name) {
  const TraceSolution* s = d.find_solution(name);
  if (!s || s->entry_file() != "builtin.cpp") return std::nullopt;
  for (const Solution& r : all_solutions())
    if (r.name == s->entry_function()) return std::string(r.name);
  return std::nullopt;
}

}  // namespace

nlohmann::ordered_json KernelTable::to_json() const {
  nlohmann::ordered_json entries_json = nlohmann::ordered_json::array();
  for (const KernelTableEntry& e : entries) {
    entries_json.push_back({{"definition", e.definition},
                            {"kernel", e.kernel},
                            {"shape", e.shape},
                            {"max_tokens", e.max_tokens},
                            {"solution", e.solution},
                            {"latency_ms", e.latency_ms}});
    if (!e.out_of_tree.is_null()) entries_json.back()["out_of_tree"] = e.out_of_tree;
  }
  return {{"hardware", hardware}, {"entries", entries_json}};
}

KernelTable KernelTable::from_json(const nlohmann::json& j, const std::string& where) {
  KernelTable t;
  try {
    t.hardware = j.at("hardware").get<std::string>();
    for (const nlohmann::json& e : j.at("entries")) {
      t.entries.push_back({e.at("definition").get<std::string>(), e.at("kernel").get<std::string>(),
                           e.at("shape").get<std::vector<int64_t>>(), e.at("max_tokens").get<int64_t>(),
                           e.at("solution").get<std::string>(), e.at("latency_ms").get<double>(),
                           e.value("out_of_tree", nlohmann::json())});
      if (!t.entries.back().out_of_tree.is_null()) TraceSolution::from_json(t.entries.back().out_of_tree, where);
    }
  } catch (const nlohmann::json::exception& ex) {
    fail("{}: not a kernel table: {}", where, ex.what());
  }
  return t;
}

KernelTable build_kernel_table(const Dataset& d, std::vector<std::string>& notes, double min_speedup) {
  KernelTable table;
  for (const Definition& def : d.definitions) {
    const std::optional<std::string> kernel = def.tag("strata_kernel");
    auto how = std::find_if(applicable().begin(), applicable().end(),
                            [&](const Applicable& a) { return kernel && a.kernel == *kernel && a.op_type == def.op_type; });
    // (bucket, solution) -> latencies; and which (bucket, solution) failed somewhere.
    std::map<std::pair<int64_t, std::string>, std::vector<double>> latencies;
    std::map<int64_t, int> workloads_in_bucket;
    std::map<std::pair<int64_t, std::string>, bool> failed;
    std::map<std::string, int> seen_uuid;
    bool has_traces = false;
    for (const Trace& t : d.traces) {
      if (t.definition != def.name) continue;
      has_traces = true;
      if (how == applicable().end()) break;
      const int64_t tokens = t.workload.axis(how->token_axis);
      const int64_t bucket = int64_t(std::bit_ceil(uint64_t(tokens)));
      if (seen_uuid[t.workload.uuid]++ == 0) ++workloads_in_bucket[bucket];
      const auto key = std::make_pair(bucket, *t.solution);
      if (t.evaluation->status == EvaluationStatus::Passed) {
        latencies[key].push_back(t.evaluation->performance->latency_ms);
      } else {
        failed[key] = true;
      }
    }
    if (!has_traces) continue;
    if (how == applicable().end()) {
      notes.push_back(fmt::format("{}: kernel {} has no shape choices at serve time", def.name, kernel.value_or("(none)")));
      continue;
    }
    if (table.hardware.empty()) {
      for (const Trace& t : d.traces)
        if (t.definition == def.name) table.hardware = t.evaluation->hardware;
    }
    std::vector<int64_t> shape;
    for (const char* axis : how->shape_axes) shape.push_back(def.axis(axis)->value);
    // What serving runs without a table: the selection, by ISA order and path.
    const std::string_view incumbent = select(*kernel).name;
    for (const auto& [bucket, count] : workloads_in_bucket) {
      KernelTableEntry best{def.name, *kernel, shape, bucket, "", 0};
      std::optional<double> incumbent_ms;
      for (const auto& [key, ms] : latencies) {
        if (key.first != bucket || failed.contains(key) || int(ms.size()) < count) continue;
        const std::optional<std::string> registry = registry_solution(d, key.second);
        const TraceSolution* external = registry ? nullptr : d.find_solution(key.second);
        if (!registry && !(external && external->spec.language == "cpp" && external_solutions_supported(*kernel))) {
          notes.push_back(fmt::format("{}: {} is neither a registry solution nor an out-of-tree cpp solution of a "
                                      "kernel serve can load it for (rmsnorm, gemm_bf16)",
                                      def.name, key.second));
          continue;
        }
        const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / double(ms.size());
        if (registry == incumbent) incumbent_ms = mean;
        if (best.solution.empty() || mean < best.latency_ms) {
          best.solution = registry ? *registry : external->name;
          best.latency_ms = mean;
          best.out_of_tree = external ? nlohmann::json(external->to_json()) : nlohmann::json();
        }
      }
      // A timing from a loaded moment can make the incumbent look slower:
      // a challenger replaces it only by a clear margin.
      if (!incumbent_ms && !best.solution.empty() && best.solution != incumbent) {
        notes.push_back(fmt::format("{} tokens<={}: no timing of {} (what serving selects here): {} picked without "
                                    "the --min-speedup margin", def.name, bucket, incumbent, best.solution));
      }
      if (incumbent_ms && best.solution != incumbent && best.latency_ms * min_speedup > *incumbent_ms) {
        notes.push_back(fmt::format("{} tokens<={}: kept {} ({:.4f} ms): {} was {:.2f}x faster, under --min-speedup {}",
                                    def.name, bucket, incumbent, *incumbent_ms, best.solution,
                                    *incumbent_ms / best.latency_ms, min_speedup));
        best.solution = std::string(incumbent);
        best.latency_ms = *incumbent_ms;
        best.out_of_tree = nullptr;
      }
      if (!best.solution.empty()) table.entries.push_back(std::move(best));
    }
  }
  return table;
}

std::vector<std::string> install_kernel_table(const KernelTable& table, const std::string& build_dir) {
  std::vector<std::string> lines;
  for (const KernelTableEntry& e : table.entries) {
    if (!e.out_of_tree.is_null()) {
      const TraceSolution s = TraceSolution::from_json(e.out_of_tree, "kernel table entry " + e.solution);
      const CompiledSolution built = compile_solution(s, build_dir);
      if (!built.runnable) fail("kernel table: out-of-tree solution {} does not build: {}", s.name, built.log);
      add_shape_choice(e.kernel, e.shape, e.max_tokens, load_external_solution(e.kernel, s.name, built.library, built.function));
      lines.push_back(fmt::format("{} [{}] tokens<={}: {} ({}; out-of-tree, {})", e.kernel, fmt::join(e.shape, ", "),
                                  e.max_tokens, e.solution, e.definition, built.library));
      continue;
    }
    // A table picks among a definition's solutions; the numeric path (e.g.
    // STRATA_INT4_PATH) stays the user's choice.
    const std::string_view selected_path = numeric_path_name(select(e.kernel).path);
    const auto chosen = std::find_if(all_solutions().begin(), all_solutions().end(),
                                     [&](const Solution& s) { return s.name == e.solution; });
    if (chosen != all_solutions().end() && numeric_path_name(chosen->path) != selected_path) {
      lines.push_back(fmt::format("{} [{}] tokens<={}: not applied: {} is on the {} path, serving runs {}", e.kernel,
                                  fmt::join(e.shape, ", "), e.max_tokens, e.solution, numeric_path_name(chosen->path),
                                  selected_path));
      continue;
    }
    add_shape_choice(e.kernel, e.shape, e.max_tokens, e.solution);
    lines.push_back(fmt::format("{} [{}] tokens<={}: {} ({})", e.kernel, fmt::join(e.shape, ", "), e.max_tokens, e.solution,
                                e.definition));
  }
  return lines;
}

}  // namespace strata
