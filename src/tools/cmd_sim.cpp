// `strata sim`: the layered-prefill comparison at GPU scale. The engine's own
// scheduler plans every step and a cost model (src/sim/cost_model.h) prices
// it on a hardware profile; see src/sim/simulator.h.
// `strata sim calibrate`: times real steps of a model on this CPU and writes
// the profile fitted to them (src/sim/calibrate.h).
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/metrics.h"
#include "core/error.h"
#include "model/model.h"
#include "sim/calibrate.h"
#include "sim/paper_settings.h"
#include "sim/sim_report.h"
#include "tools/commands.h"

namespace strata {

namespace {

using namespace strata::sim;

struct SimArgs {
  std::string hardware = "h100-sxm", model = "qwen3-30b-a3b", dataset = "arxiv";
  int tp = 2;
  std::string request_rates = "1.3,1.5,1.8", policies = "chunked:512,layered,whole";
  std::string slo = "ttft:10000,tbt:125", stage_rule = "paper", output_json;
  int num_prompts = 300, max_num_seqs = 256, max_model_len = 32768;
  int tokens_per_stage = 512, layered_max_num_batched_tokens = 0;  // as strata bench engine
  bool no_cohort_overlap = false;
  int input_len = 1024, output_len = 128;  // random dataset
  double burstiness = 1, router_skew = 0, scale_lengths = 1;
  uint64_t seed = 0;
  bool paper = false;
};

std::vector<std::string> split_list(const std::string& s, const char* flag) {
  std::vector<std::string> items;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty()) fail("{}: empty item in '{}'", flag, s);
    items.push_back(item);
  }
  if (items.empty()) fail("{}: no values given", flag);
  return items;
}

std::vector<double> parse_rates(const std::string& s) {
  std::vector<double> rates;
  for (const std::string& item : split_list(s, "--request-rates")) {
    char* end = nullptr;
    const double rate = std::strtod(item.c_str(), &end);
    if (*end != '\0' || !(rate > 0) || std::isinf(rate)) fail("--request-rates: '{}' is not a positive number", item);
    rates.push_back(rate);
  }
  return rates;
}

SettingResult run_setting(const SimArgs& a, const HardwareProfile& hardware, const std::string& model_name,
                          const std::string& dataset, const std::vector<double>& rates, const std::string& slo) {
  SimSetup base;
  base.model = resolve_sim_model(model_name);
  base.hardware = hardware;
  base.tensor_parallel = a.tp;
  base.stage_rule = parse_stage_rule(a.stage_rule);
  base.max_num_seqs = a.max_num_seqs;
  base.max_model_len = a.max_model_len;
  base.tokens_per_stage = a.tokens_per_stage;
  base.overlap_cohorts = !a.no_cohort_overlap;
  base.router = {a.router_skew, a.seed};
  if (!slo.empty()) base.slo = bench::parse_slo(slo);
  std::vector<PolicySpec> policies;
  for (const std::string& p : split_list(a.policies, "--policies")) policies.push_back(parse_policy_spec(p));

  bench::DatasetOptions data;
  data.kind = bench::parse_dataset_kind(dataset);
  data.num_prompts = a.num_prompts;
  data.input_len = a.input_len;
  data.output_len = a.output_len;
  data.max_model_len = a.max_model_len;
  data.scale_lengths = a.scale_lengths;
  data.seed = a.seed;

  SettingResult setting{base.model.name, dataset, hardware.name, slo, a.tp, a.num_prompts, {}};
  for (double rate : rates) {
    // Every policy sees the same requests at the same times.
    const std::vector<SimRequest> workload = make_workload(data, rate, a.burstiness);
    for (const PolicySpec& policy : policies) {
      SimSetup setup = base;
      setup.policy = policy;
      if (policy.name == "layered") setup.policy.token_budget = a.layered_max_num_batched_tokens;
      if (policy.name == "slo" && policy.tbt_slo_ms == 0) {
        if (!base.slo || base.slo->tbt <= 0) fail("policy 'slo' needs a target: slo:MS, or a tbt part in --slo");
        setup.policy.tbt_slo_ms = base.slo->tbt * 1000;
      }
      const SchedulerConfig config = scheduler_config(setup);
      setup.policy.token_budget = config.max_num_batched_tokens;
      setup.policy.num_stages = config.num_stages;
      fmt::print(stderr, "sim: {} {} {} @ {:.2f} req/s ...\n", base.model.name, dataset, setup.policy.label(), rate);
      setting.runs.push_back({setup.policy.label(), rate, simulate(setup, workload)});
    }
  }
  return setting;
}

void run_sim(const SimArgs& a) {
  const HardwareProfile hardware = resolve_hardware(a.hardware);
  std::vector<SettingResult> settings;
  if (a.paper) {
    for (const PaperSetting& p : paper_settings()) {
      settings.push_back(run_setting(a, hardware, p.model, p.dataset, p.request_rates, p.slo));
      fmt::print("{}\n", format_setting(settings.back()));
    }
  } else {
    settings.push_back(run_setting(a, hardware, a.model, a.dataset, parse_rates(a.request_rates), a.slo));
    fmt::print("{}\n", format_setting(settings.back()));
  }
  if (!a.output_json.empty()) {
    nlohmann::json j;
    j["hardware"] = hardware.to_json();
    j["seed"] = a.seed;
    j["router_skew"] = a.router_skew;
    j["settings"] = nlohmann::json::array();
    for (const SettingResult& s : settings) j["settings"].push_back(setting_json(s));
    std::ofstream out(a.output_json);
    if (!out) fail("--output-json: cannot write '{}'", a.output_json);
    out << j.dump(2) << "\n";
    if (!out) fail("--output-json: failed writing '{}'", a.output_json);
  }
}

void run_calibrate(const std::string& model_dir, const std::string& output, int repeats) {
  const SimModel sim_model = resolve_sim_model(model_dir);
  const auto model = Model::load(model_dir);
  fmt::print(stderr, "calibrating on {}: timing real steps in {} rounds (15-20 s each) ...\n", sim_model.name, repeats);
  CalibrationOptions options;
  options.repeats = repeats;
  const Calibration c = calibrate_cpu(*model, sim_model, options, [](const std::string& round) {
    fmt::print(stderr, "  {}\n", round);
  });
  fmt::print("{:<44} {:>10} {:>10} {:>7} {:>9}\n", "step", "measured", "fitted", "diff", "experts");
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const TimedStep& s = c.steps[i];
    const double diff = c.predicted_seconds[i] / s.seconds - 1;
    fmt::print("{:<44} {:>8.1f}ms {:>8.1f}ms {:>+6.0f}% {:>4}/{:<4}\n", s.probe, s.seconds * 1e3,
               c.predicted_seconds[i] * 1e3, diff * 100, s.experts_touched, c.simulated_experts[i]);
  }
  const FittedRates& r = c.fit.rates;
  fmt::print("(experts: distinct experts the model's router touched / the cost model's router drew)\n"
             "fitted: matmul {:.1f} GFLOP/s, attention {:.1f} GFLOP/s, experts {:.1f} GFLOP/s; weights {:.1f} GB/s, "
             "experts {:.1f} GB/s (stream read {:.1f} GB/s); overheads {:.2f} ms/layer, {:.2f} ms/logits row, "
             "{:.2f} ms/step; roofline overlap {:.2f}\n",
             r.matmul_flops / 1e9, r.attention_flops / 1e9, r.expert_flops / 1e9, r.weight_bandwidth / 1e9,
             r.expert_bandwidth / 1e9, c.stream_bytes_per_second / 1e9, r.layer_overhead * 1e3,
             r.logits_overhead * 1e3, r.step_overhead * 1e3, r.overlap);
  fmt::print("fit over {} steps: rms relative error {:.1f}%, worst {:.1f}%{}\n", c.steps.size(),
             c.fit.rms_relative_error * 100, c.fit.max_relative_error * 100,
             c.fit.unconstrained.empty() ? "" : fmt::format(" (unconstrained, kept at start: {})",
                                                            fmt::join(c.fit.unconstrained, ", ")));
  std::ofstream out(output);
  if (!out) fail("--output: cannot write '{}'", output);
  out << c.profile.to_json().dump(2) << "\n";
  if (!out) fail("--output: failed writing '{}'", output);
  fmt::print("wrote {} (use it as --hardware {} --tp 1)\n", output, output);
}

}  // namespace

void add_sim_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("sim", "Simulate chunked / layered / whole prefill on a hardware cost model");
  auto a = std::make_shared<SimArgs>();
  cmd->add_option("--hardware", a->hardware, "h100-sxm or a profile JSON (strata sim calibrate)")
      ->capture_default_str();
  cmd->add_option("--tp", a->tp, "Tensor-parallel devices")->capture_default_str();
  cmd->add_option("--model", a->model, "qwen3-30b-a3b, gpt-oss-20b or a Hugging Face folder")->capture_default_str();
  cmd->add_option("--dataset", a->dataset, "arxiv, sharegpt or random")->capture_default_str();
  cmd->add_option("--input-len", a->input_len, "Prompt tokens (random)")->capture_default_str();
  cmd->add_option("--output-len", a->output_len, "Output tokens (random)")->capture_default_str();
  cmd->add_option("--scale-lengths", a->scale_lengths,
                  "Multiply prompt and output lengths (as strata bench engine does, so traces match)")
      ->capture_default_str();
  cmd->add_option("--request-rates", a->request_rates, "Comma-separated req/s")->capture_default_str();
  cmd->add_option("--policies", a->policies, "Comma-separated chunked[:BUDGET], layered[:G], whole, slo[:TBT_MS] (slo alone: --slo's tbt)")
      ->capture_default_str();
  cmd->add_option("--slo", a->slo, "ttft:MS,tbt:MS (every gap must meet tbt)")->capture_default_str();
  cmd->add_option("--num-prompts", a->num_prompts, "Requests per run")->capture_default_str();
  cmd->add_option("--burstiness", a->burstiness, "Gamma shape of the arrivals (1 = Poisson)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed for lengths, arrivals and routing")->capture_default_str();
  cmd->add_option("--router-skew", a->router_skew, "Zipf exponent of expert popularity (0 = uniform)")
      ->capture_default_str();
  cmd->add_option("--stage-rule", a->stage_rule, "Layered stages per cohort: paper or pow2")->capture_default_str();
  cmd->add_flag("--no-cohort-overlap", a->no_cohort_overlap,
                "slo: start no cohort while another is in flight (to measure what the overlap is worth)");
  cmd->add_option("--tokens-per-stage", a->tokens_per_stage, "Layered: cohort tokens per stage")
      ->capture_default_str();
  cmd->add_option("--layered-max-num-batched-tokens", a->layered_max_num_batched_tokens,
                  "Token budget of a layered cohort (0: 8192)")
      ->capture_default_str();
  cmd->add_option("--max-num-seqs", a->max_num_seqs, "Sequences per step at most")->capture_default_str();
  cmd->add_option("--max-model-len", a->max_model_len, "Context length (prompt + output)")->capture_default_str();
  cmd->add_flag("--paper", a->paper,
                "Run the paper's four settings (models, datasets, rates and SLOs; replaces --model, --dataset, "
                "--request-rates and --slo)");
  cmd->add_option("--output-json", a->output_json, "Write every run's metrics here");
  cmd->callback([a, cmd] {
    if (cmd->get_subcommands().empty()) run_sim(*a);
  });

  auto* calibrate =
      cmd->add_subcommand("calibrate", "Time real engine steps of a model on this CPU and fit a profile JSON to them");
  auto model_dir = std::make_shared<std::string>(), output = std::make_shared<std::string>("cpu-profile.json");
  auto repeats = std::make_shared<int>(5);
  calibrate->add_option("--model", *model_dir, "Hugging Face model folder to run the steps on")->required();
  calibrate->add_option("--output", *output, "Profile JSON to write")->capture_default_str();
  calibrate->add_option("--repeats", *repeats, "Timed runs of each step (the median counts)")->capture_default_str();
  calibrate->callback([model_dir, output, repeats] { run_calibrate(*model_dir, *output, *repeats); });
}

}  // namespace strata
