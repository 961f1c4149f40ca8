// scripts/report.py (the report of scripts/reproduce) on a small hand-made
// results folder: the Markdown tables carry the figures of the JSON inputs,
// the derived figures (layered/chunked ratios, simulated-vs-measured
// differences, /metrics deltas) are computed right, and the plots are PNGs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A `strata bench serve --output-json` result with two requests.
json serve_run(double ttft_mean, double itl_mean, double slo_pct) {
  auto summary = [](double mean) {
    return json{{"mean", mean}, {"median", mean - 10}, {"std", 1}, {"p90", mean + 10}, {"p99", mean + 20}};
  };
  json requests = json::array();
  requests.push_back({{"success", true}, {"error", ""}, {"start_s", 0.0}, {"ttft_ms", ttft_mean - 50},
                      {"itls_ms", {itl_mean, itl_mean + 5}}, {"e2el_ms", 2000.0}, {"prompt_len", 98}, {"output_len", 3}});
  requests.push_back({{"success", true}, {"error", ""}, {"start_s", 1.0}, {"ttft_ms", ttft_mean + 50},
                      {"itls_ms", {itl_mean - 5}}, {"e2el_ms", 2100.0}, {"prompt_len", 98}, {"output_len", 2}});
  return {{"completed", 2},         {"failed", 0},          {"first_error", ""},
          {"duration_s", 4.0},      {"request_throughput", 0.5},
          {"output_throughput", 1.25}, {"total_token_throughput", 50.25},
          {"ttft_ms", summary(ttft_mean)}, {"tpot_ms", summary(itl_mean + 1)},
          {"itl_ms", summary(itl_mean)},   {"e2el_ms", summary(2050)},
          {"slo_attainment_pct", slo_pct}, {"goodput", 0.25},
          {"requests", requests}};
}

json sim_run(const std::string& policy, double ttft_mean, double itl_mean) {
  auto summary = [](double mean) { return json{{"mean_ms", mean}, {"median_ms", mean}, {"p90_ms", mean}, {"p99_ms", mean}}; };
  return {{"policy", policy},          {"request_rate", 0.5},         {"ttft", summary(ttft_mean)},
          {"itl", summary(itl_mean)},  {"tpot", summary(itl_mean + 1)}, {"e2el", summary(2000)},
          {"slo_attainment_pct", 50.0}, {"expert_bytes_per_prompt_token", 3e6}};
}

class ReproduceReport : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("strata-report-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    write(dir_ / "config.json", json{{"mode", "quick"},
                                     {"model", "models/m"},
                                     {"model_bytes", 1 << 30},
                                     {"layers", 4},
                                     {"num_prompts", 2},
                                     {"chunk_budget", 64},
                                     {"seed", 1},
                                     {"workloads", {{"sharegpt", {{"input_len", 98}, {"output_len", 3}, {"slo", "ttft:5000,tbt:750"}}}}},
                                     {"policies", {{"layered", "--schedule layered"}, {"chunked-64", "--schedule chunked"}}},
                                     {"cpu", "test cpu x 2"},
                                     {"duration_s", 90}}
                                    .dump());
    write(dir_ / "serve/sharegpt/layered@0.5.json", serve_run(500, 100, 100).dump());
    write(dir_ / "serve/sharegpt/chunked-64@0.5.json", serve_run(1000, 200, 50).dump());
    write(dir_ / "serve/sharegpt/chunked-64@0.5.metrics-before.txt",
          "# TYPE vllm:num_preemptions_total counter\nvllm:num_preemptions_total{model_name=\"repro\"} 1\n");
    write(dir_ / "serve/sharegpt/chunked-64@0.5.metrics-after.txt",
          "# TYPE vllm:num_preemptions_total counter\nvllm:num_preemptions_total{model_name=\"repro\"} 3\n");
    // bench engine runs, one file per chunked budget (named by it).
    json engine_runs = json::array();
    engine_runs.push_back({{"policy", "layered"}, {"expert_bytes_per_prompt_token", 12345678.0},
                           {"experts_per_moe_call", 120.5}, {"steps", 40}, {"prompt_tokens", 392}});
    engine_runs.push_back({{"policy", "chunked"}, {"expert_bytes_per_prompt_token", 24691356.0},
                           {"experts_per_moe_call", 110.0}, {"steps", 50}, {"prompt_tokens", 392}});
    write(dir_ / "engine/sharegpt-chunked-64.json", json{{"runs", engine_runs}}.dump());
    json sim_runs = json::array({sim_run("chunked:64", 1100, 150), sim_run("layered:4", 900, 150)});
    write(dir_ / "sim/cpu-sharegpt.json", json{{"settings", {{{"runs", sim_runs}}}}}.dump());
  }
  void TearDown() override { fs::remove_all(dir_); }

  int run_report() const {
    const std::string command = "/usr/bin/python3 " + std::string(STRATA_SOURCE_DIR) + "/scripts/report.py " +
                                dir_.string() + " > " + (dir_ / "report.log").string() + " 2>&1";
    return std::system(command.c_str());
  }

  fs::path dir_;
};

TEST_F(ReproduceReport, TablesCarryTheMeasuredAndDerivedFigures) {
  ASSERT_EQ(run_report(), 0) << read(dir_ / "report.log");
  const std::string md = read(dir_ / "report.md");
  // policy | rate | TTFT mean, median, p99 | ITL mean, p99 | TPOT | SLO | goodput | tok/s | expert MB | preemptions
  EXPECT_NE(md.find("| layered | 0.5 | 500 | 490 | 520 | 100 | 120 | 101 | 100% | 0.250 | 1.2 | 12.3 | - |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| chunked-64 | 0.5 | 1,000 | 990 | 1,020 | 200 | 220 | 201 | 50% | 0.250 | 1.2 | 24.7 | 2 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("layered vs chunked-64: TTFT mean x0.50, median x0.49; ITL p99 x0.55; SLO 100% vs 50%"),
            std::string::npos)
      << md;
  // Simulated / measured - 1: TTFT 1100 vs 1000, ITL 150 vs 200, TPOT 151 vs 201; layered TTFT 900 vs 500
  // and ITL 150 vs 100 count too (the simulator runs the server's layered settings).
  EXPECT_NE(md.find("| sharegpt | chunked-64 | 0.5 | 1,000 | 1,100 | +10% | 200 | 150 | -25% | 201 | 151 | -25% |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("TTFT 1 of 2 within 25% (median |diff| 80%, worst 80%); ITL 1 of 2 within 25%"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| sharegpt | layered | 12.3 | 120.5 | 40 | 392 |"), std::string::npos) << md;
  EXPECT_NE(md.find("No GPU-scale simulation results were found."), std::string::npos) << md;
}

TEST_F(ReproduceReport, PlotsArePngFilesLinkedFromTheReport) {
  ASSERT_EQ(run_report(), 0) << read(dir_ / "report.log");
  const std::string md = read(dir_ / "report.md");
  for (const char* name : {"ttft_cdf_sharegpt.png", "tbt_cdf_sharegpt.png", "slo_attainment.png", "expert_bytes.png"}) {
    const std::string png = read(dir_ / name);
    ASSERT_GT(png.size(), 1000u) << name;
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << name;
    EXPECT_NE(md.find(std::string("](") + name + ")"), std::string::npos) << name;
  }
}

TEST_F(ReproduceReport, MissingConfigFails) {
  fs::remove(dir_ / "config.json");
  EXPECT_NE(run_report(), 0);
}

}  // namespace
