#pragma once
// The apply step: from a benched dataset's traces, per definition and token
// bucket, the fastest correct solution that strata can run at serve time
// (a registry solution of the definition's strata_kernel, or an out-of-tree
// cpp solution of a kernel external_solution.h wraps), as a JSON table
// that `strata serve --kernel-table` installs as shape choices
// (kernels/shape_choices.h). Calls the table does not cover keep today's
// selection.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "workbench/dataset.h"

namespace strata {

struct KernelTableEntry {
  std::string definition;        // the dataset's, e.g. gemm_f32_bf16_n512_k2048
  std::string kernel;            // its strata_kernel, e.g. gemm_bf16
  std::vector<int64_t> shape;    // the kernel's shape key, e.g. {N, K}
  int64_t max_tokens = 0;        // bucket: calls with (previous bucket, max_tokens] tokens
  std::string solution;           // the registry solution it runs, or an out-of-tree one's name
  double latency_ms = 0;         // mean over the bucket's workloads
  // An out-of-tree winner: its Solution JSON, sources inline, which serve
  // compiles and loads (external_solution.h).
  nlohmann::json out_of_tree = nullptr;
};

struct KernelTable {
  std::string hardware;
  std::vector<KernelTableEntry> entries;

  nlohmann::ordered_json to_json() const;
  static KernelTable from_json(const nlohmann::json& j, const std::string& where);
};

// Buckets are the powers of two at or above each workload's token count. A
// solution competes in a bucket only if it PASSED every workload there; the
// least mean latency wins, but it replaces the solution serving selects
// without a table only when at least `min_speedup` times faster. `notes` says
// what could not be applied, or was kept, and why.
inline constexpr double kDefaultMinSpeedup = 1.05;
KernelTable build_kernel_table(const Dataset& d, std::vector<std::string>& notes,
                               double min_speedup = kDefaultMinSpeedup);

// Installs the entries whose solution is on the numeric path serving selects
// for its kernel (a table does not switch e.g. INT4 from W4A8 to exact);
// returns one line per entry ("<kernel> [shape] tokens<=N: <solution>", or
// why it was not applied). Out-of-tree entries are compiled (kept in
// `build_dir`; serve uses cache_dir("solutions")) and loaded first. Throws Error for a solution that does not
// run or build here.
std::vector<std::string> install_kernel_table(const KernelTable& table, const std::string& build_dir);

}  // namespace strata
