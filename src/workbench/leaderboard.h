#pragma once
// The leaderboard (`strata kernels report`), scored as flashinfer-bench
// does (data/trace_set.py): per definition, each solution's speedup on a
// workload is the baseline's latency over its own, on the workloads where
// the baseline PASSED; a solution with any non-PASSED trace scores 0 there
// (and on its mean); the win rate is the share of workloads with speedup
// > 1; solutions are ranked by mean speedup. The fast_p curve of a solution
// is, for each p, the share of workloads where its speedup is at least p
// (failures count as 0).
#include <string>
#include <vector>

#include "workbench/dataset.h"

namespace strata {

struct LeaderboardRow {
  std::string solution, author;
  double mean_speedup = 0, win_rate = 0, pass_rate = 0;
  int workloads = 0;
  std::vector<double> speedups;  // per workload, 0 where it failed
};

struct DefinitionBoard {
  std::string definition;
  std::vector<LeaderboardRow> rows;  // ranked
};

std::vector<DefinitionBoard> leaderboard(const Dataset& d);

// report.md, and fast_p.png when Python's matplotlib imports (else the
// Markdown says so). Returns the files written.
std::vector<std::string> write_report(const std::vector<DefinitionBoard>& boards, const std::string& out_dir);

}  // namespace strata
