#include "workbench/leaderboard.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"

namespace strata {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFastPPlot = R"PY(import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
boards = json.load(open(sys.argv[1]))
n = len(boards)
fig, axes = plt.subplots(n, 1, figsize=(7, 3 * n), squeeze=False)
for ax, board in zip(axes[:, 0], boards):
    top = max([max(r["speedups"] + [1.0]) for r in board["rows"]] + [1.0])
    ps = [top * i / 200 for i in range(201)]
    for r in board["rows"]:
        s = r["speedups"]
        ax.plot(ps, [sum(v >= p for v in s) / len(s) for p in ps], label=r["solution"])
    ax.set_title(board["definition"], fontsize=9)
    ax.set_xlabel("speedup over the baseline, p")
    ax.set_ylabel("fast_p")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=6)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=90)
)PY";

}  // namespace

std::vector<DefinitionBoard> leaderboard(const Dataset& d) {
  std::vector<DefinitionBoard> boards;
  for (const Definition& def : d.definitions) {
    // workload uuid -> the baseline's latency; solution -> uuid -> trace.
    std::map<std::string, double> baseline_ms;
    std::map<std::string, std::map<std::string, const Trace*>> by_solution;
    std::map<std::string, std::string> author_of;
    for (const Trace& t : d.traces) {
      if (t.definition != def.name) continue;
      const TraceSolution* s = d.find_solution(*t.solution);
      const std::string author = s ? s->author : "?";
      author_of[*t.solution] = author;
      by_solution[*t.solution][t.workload.uuid] = &t;
      if (author == "baseline" && t.evaluation->status == EvaluationStatus::Passed) {
        baseline_ms[t.workload.uuid] = t.evaluation->performance->latency_ms;
      }
    }
    if (baseline_ms.empty()) continue;
    DefinitionBoard board{def.name, {}};
    for (const auto& [solution, traces] : by_solution) {
      LeaderboardRow row{solution, author_of[solution]};
      int passed = 0;
      for (const auto& [uuid, ref_ms] : baseline_ms) {
        auto it = traces.find(uuid);
        if (it == traces.end()) continue;
        const Evaluation& e = *it->second->evaluation;
        const bool ok = e.status == EvaluationStatus::Passed;
        passed += ok;
        row.speedups.push_back(ok ? ref_ms / e.performance->latency_ms : 0.0);
      }
      row.workloads = int(row.speedups.size());
      if (row.workloads == 0) continue;
      row.pass_rate = double(passed) / row.workloads;
      row.win_rate = double(std::count_if(row.speedups.begin(), row.speedups.end(), [](double v) { return v > 1; })) /
                     row.workloads;
      row.mean_speedup = passed == row.workloads
                             ? std::accumulate(row.speedups.begin(), row.speedups.end(), 0.0) / row.workloads
                             : 0.0;
      board.rows.push_back(std::move(row));
    }
    std::stable_sort(board.rows.begin(), board.rows.end(),
                     [](const LeaderboardRow& a, const LeaderboardRow& b) { return a.mean_speedup > b.mean_speedup; });
    boards.push_back(std::move(board));
  }
  return boards;
}

std::vector<std::string> write_report(const std::vector<DefinitionBoard>& boards, const std::string& out_dir) {
  fs::create_directories(out_dir);
  const fs::path md = fs::path(out_dir) / "report.md", png = fs::path(out_dir) / "fast_p.png",
                 data = fs::path(out_dir) / "leaderboard.json", script = fs::path(out_dir) / ".fast_p.py";
  nlohmann::json j = nlohmann::json::array();
  for (const DefinitionBoard& b : boards) {
    nlohmann::json rows = nlohmann::json::array();
    for (const LeaderboardRow& r : b.rows) {
      rows.push_back({{"solution", r.solution}, {"author", r.author}, {"mean_speedup", r.mean_speedup},
                      {"win_rate", r.win_rate}, {"pass_rate", r.pass_rate}, {"workloads", r.workloads},
                      {"speedups", r.speedups}});
    }
    j.push_back({{"definition", b.definition}, {"rows", rows}});
  }
  std::ofstream(data) << j.dump(2) << "\n";
  std::vector<std::string> written = {md.string(), data.string()};
  bool plotted = false;
  if (!boards.empty()) {
    std::ofstream(script) << kFastPPlot;
    const std::string cmd = fmt::format("'{}' '{}' '{}' '{}' > /dev/null 2>&1", workbench_python(), script.string(),
                                        data.string(), png.string());
    plotted = std::system(cmd.c_str()) == 0 && fs::exists(png);
    fs::remove(script);
  }
  if (plotted) written.push_back(png.string());

  std::string text = "# Kernel leaderboard\n\nPer definition, solutions ranked by mean speedup over the baseline "
                     "(the scalar reference) on the workloads where it passed; a solution with any failed workload "
                     "scores 0.\n\n";
  text += plotted ? "fast_p curves: `fast_p.png`.\n" : "fast_p curves: not drawn (Python's matplotlib did not run).\n";
  for (const DefinitionBoard& b : boards) {
    text += fmt::format("\n## {}\n\n| rank | solution | author | mean speedup | win rate | passed | workloads |\n"
                        "|---:|---|---|---:|---:|---:|---:|\n",
                        b.definition);
    for (size_t i = 0; i < b.rows.size(); ++i) {
      const LeaderboardRow& r = b.rows[i];
      text += fmt::format("| {} | {} | {} | {:.2f}x | {:.0f}% | {:.0f}% | {} |\n", i + 1, r.solution, r.author,
                          r.mean_speedup, 100 * r.win_rate, 100 * r.pass_rate, r.workloads);
    }
  }
  std::ofstream out(md);
  out << text;
  out.close();
  if (!out) fail("{}: write failed", md.string());
  return written;
}

}  // namespace strata
