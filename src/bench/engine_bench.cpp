#include "bench/engine_bench.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "bench/arrivals.h"
#include "bench/dataset.h"
#include "bench/edit_dataset.h"
#include "bench/metrics.h"
#include "bench/prompt_maker.h"
#include "core/error.h"
#include "engine/paged_kv_cache.h"
#include "model/model.h"
#include "sim/calibrate.h"
#include "sim/profile_cache.h"
#include "sim/step_estimate.h"
#include "sim/simulator.h"

namespace strata::bench {

namespace {

struct RunResult {
  std::string policy;  // as given: layered, whole, chunked or chunked:BUDGET
  double rate = 0;
  BenchMetrics metrics;
  Summary tbt;  // every inter-token gap, pooled
  int64_t steps = 0, preemptions = 0, prompt_tokens = 0;
  int64_t expert_bytes = 0, moe_calls = 0, experts_touched = 0, layer_rows = 0;
  double busy_seconds = 0;
  Summary decode_steps;  // seconds of the steps that ran only decodes
  // Speculative decoding's counters, when it is on.
  std::optional<EngineCounters> speculative;
  std::optional<sim::SimResult> simulated;
  Summary simulated_tbt, simulated_decode_steps;

  double expert_bytes_per_prompt_token() const {
    return prompt_tokens ? double(expert_bytes) / double(prompt_tokens) : 0.0;
  }
};

// The edit dataset (bench/edit_dataset.h): prompts of input_len tokens,
// each followed by its greedy continuation of output_len tokens and itself
// again; output_len tokens asked for.
std::vector<BenchRequest> make_edit_trace(const Model& model, const EngineBenchOptions& o) {
  if (o.input_len < 1 || o.output_len < 1) fail("bench engine: --input-len and --output-len must be positive");
  const int64_t max_len = o.engine.max_model_len > 0 ? o.engine.max_model_len : model.config().max_context_length();
  if (2 * int64_t(o.input_len) + 2 * int64_t(o.output_len) > max_len) {
    fail("bench engine: --dataset edit needs 2 x (--input-len + --output-len) = {} tokens of context (the model has {})",
         2 * (o.input_len + o.output_len), max_len);
  }
  const PromptMaker maker(&model.tokenizer());
  std::mt19937_64 rng(o.seed ^ 0x5eedf00dull);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < o.num_prompts; ++i) {
    BenchRequest r;
    maker.append(o.input_len, rng, r);
    prompts.push_back(std::move(r.prompt_ids));
  }
  EngineConfig config = o.engine;
  config.speculative = {};  // the continuations are greedy: the same with or without
  Engine engine(model, config);
  std::vector<BenchRequest> requests;
  for (std::vector<int32_t>& prompt : edit_prompts(engine, prompts, o.output_len)) {
    BenchRequest r;
    r.prompt_len = int(prompt.size());
    r.prompt_ids = std::move(prompt);
    r.output_len = o.output_len;
    requests.push_back(std::move(r));
  }
  return requests;
}

std::vector<BenchRequest> make_trace(const Model& model, const EngineBenchOptions& o) {
  if (o.dataset == "edit") return make_edit_trace(model, o);
  DatasetOptions d;
  d.kind = parse_dataset_kind(o.dataset);
  if (d.kind == DatasetKind::Prefix) {
    fail("bench engine: --dataset must be sharegpt, arxiv, random or edit (got '{}')", o.dataset);
  }
  d.num_prompts = o.num_prompts;
  d.input_len = o.input_len;
  d.output_len = o.output_len;
  d.scale_lengths = o.scale_lengths;
  d.seed = o.seed;
  d.max_model_len = 1 << 30;  // clipped below, to the engine's limit
  const int64_t max_len = o.engine.max_model_len > 0 ? o.engine.max_model_len : model.config().max_context_length();
  const PromptMaker maker(&model.tokenizer());
  std::mt19937_64 rng(o.seed ^ 0x5eedf00dull);
  std::vector<BenchRequest> requests;
  for (const RequestLengths& l : sample_lengths(d)) {
    const int output = int(std::min<int64_t>(l.output, max_len / 4));
    const int prompt = int(std::min<int64_t>(l.prompt, max_len - output));
    BenchRequest r;
    maker.append(prompt, rng, r);
    r.output_len = output;
    requests.push_back(std::move(r));
  }
  return requests;
}

// The engine settings of one policy spec.
EngineConfig engine_config(const EngineBenchOptions& o, const std::string& policy) {
  EngineConfig config = o.engine;
  const size_t colon = policy.find(':');
  config.schedule = policy.substr(0, colon);
  if (config.schedule != "slo") (void)make_schedule_policy(config.schedule);  // rejects unknown names
  if (config.schedule == "chunked") config.max_num_batched_tokens = o.chunked_max_num_batched_tokens;
  if (config.schedule == "layered") config.max_num_batched_tokens = o.layered_max_num_batched_tokens;
  if (colon != std::string::npos) {
    const std::string arg = policy.substr(colon + 1);
    char* end = nullptr;
    const long value = std::strtol(arg.c_str(), &end, 10);
    const bool takes_value = config.schedule == "chunked" || config.schedule == "slo";
    if (!takes_value || arg.empty() || *end != '\0' || value < 1 || value > (1 << 20))
      fail("bench engine: policy '{}' is not layered, whole, chunked[:BUDGET] or slo[:TBT_MS]", policy);
    if (config.schedule == "chunked") config.max_num_batched_tokens = int32_t(value);
    else config.tbt_slo_ms = double(value);
  }
  return config;
}

// The same policy, requests and arrivals through the simulator.
void simulate_run(const Model& model, const EngineBenchOptions& o, const std::string& policy, double rate,
                  const std::vector<BenchRequest>& trace, const sim::SimModel& sim_model,
                  const sim::HardwareProfile& hardware, const std::optional<Slo>& slo, RunResult& run) {
  const EngineConfig config = engine_config(o, policy);
  sim::SimSetup setup;
  setup.model = sim_model;
  setup.hardware = hardware;
  setup.tensor_parallel = 1;
  setup.policy.name = config.schedule;
  setup.policy.token_budget = config.max_num_batched_tokens;
  setup.policy.num_stages = config.num_stages;
  setup.policy.tbt_slo_ms = config.tbt_slo_ms;
  setup.stage_rule = config.stage_rule;
  setup.tokens_per_stage = config.tokens_per_stage;
  setup.max_num_seqs = config.max_num_seqs;
  setup.max_model_len = config.max_model_len > 0 ? config.max_model_len : int32_t(model.config().max_context_length());
  setup.block_size = config.block_size;
  setup.num_kv_blocks = config.num_kv_blocks > 0 ? config.num_kv_blocks
                                                 : num_kv_blocks_for_budget(parse_kv_budget(config.kv_budget),
                                                                            model.config(), config.block_size);
  setup.router = {0, o.seed};
  setup.slo = slo;
  const std::vector<double> arrivals = arrival_times(int(trace.size()), rate, 1.0, o.seed);
  std::vector<sim::SimRequest> requests;
  for (size_t i = 0; i < trace.size(); ++i)
    requests.push_back({arrivals[i], int32_t(trace[i].prompt_ids.size()), int32_t(trace[i].output_len)});
  std::vector<double> decode_steps;
  run.simulated = sim::simulate(setup, requests, [&](const StepPlan& plan, const sim::StepCost& cost) {
    if (plan.num_prefill_tokens == 0) decode_steps.push_back(cost.seconds);
  });
  run.simulated_decode_steps = summarize(decode_steps);
  std::vector<double> gaps;
  for (const RequestResult& q : run.simulated->requests) gaps.insert(gaps.end(), q.itls.begin(), q.itls.end());
  run.simulated_tbt = summarize(gaps);
}

RunResult run_one(const Model& model, const EngineBenchOptions& o, const std::string& policy, double rate,
                  const std::vector<BenchRequest>& trace, const std::optional<Slo>& slo) {
  EngineConfig config = engine_config(o, policy);
  config.record_history = true;
  Engine engine(model, config);
  const std::vector<double> arrivals = arrival_times(int(trace.size()), rate, 1.0, o.seed);

  engine.start();
  std::vector<std::shared_ptr<RequestStream>> streams;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < trace.size(); ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::duration<double>(arrivals[i]));
    Request request;
    request.prompt = trace[i].prompt_ids;
    request.params.max_tokens = trace[i].output_len;
    request.params.ignore_eos = true;
    streams.push_back(engine.submit(std::move(request)));
  }
  for (auto& stream : streams) {
    while (stream->next()) {
    }
  }
  engine.stop();
  RunResult run;
  run.policy = policy;
  run.rate = rate;
  if (config.speculative.enabled()) {
    const EngineCounters c = engine.counters();
    fmt::print("{} at {} req/s, speculative: {} of {} draft tokens accepted in {} drafts (accepted tokens arrive "
               "together: their gaps count as 0 in TBT)\n",
               policy, rate, c.spec_num_accepted_tokens, c.spec_num_draft_tokens, c.spec_num_drafts);
    run.speculative = c;
  }
  std::vector<RequestRecord> records = engine.take_request_records();
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::vector<RequestResult> results;
  std::vector<double> gaps;
  double first = INFINITY, last = 0;
  for (const RequestRecord& rec : records) {
    RequestResult r;
    r.success = rec.finish == FinishReason::Length && !rec.token_times.empty();
    r.start = rec.arrival;
    r.prompt_len = rec.prompt_tokens;
    r.output_len = int(rec.token_times.size());
    if (!rec.token_times.empty()) {
      r.ttft = rec.first_token - rec.arrival;
      r.e2el = rec.token_times.back() - rec.arrival;
      for (size_t t = 1; t < rec.token_times.size(); ++t) r.itls.push_back(rec.token_times[t] - rec.token_times[t - 1]);
      last = std::max(last, rec.token_times.back());
    }
    gaps.insert(gaps.end(), r.itls.begin(), r.itls.end());
    first = std::min(first, rec.arrival);
    run.prompt_tokens += rec.prompt_tokens;
    results.push_back(std::move(r));
  }
  run.metrics = compute_metrics(results, last - first, slo);
  run.tbt = summarize(gaps);
  const EngineCounters c = engine.counters();
  run.steps = c.steps;
  run.preemptions = c.preemptions;
  run.expert_bytes = c.expert_bytes;
  run.moe_calls = c.moe_calls;
  run.experts_touched = c.experts_touched;
  run.layer_rows = c.layer_rows;
  run.busy_seconds = c.busy_seconds;
  std::vector<double> decode_steps;
  for (const StepStats& step : engine.take_step_stats())
    if (step.prefill_tokens == 0) decode_steps.push_back(step.duration);
  run.decode_steps = summarize(decode_steps);
  return run;
}

void print_table(const std::vector<RunResult>& runs) {
  fmt::print("{:<11} {:>6} | {:>8} {:>8} {:>8} {:>8} | {:>7} {:>7} {:>7} {:>7} | {:>6} | {:>10} {:>7} | {:>6} {:>6}\n",
             "policy", "rate", "TTFTmean", "median", "p90", "p99", "TBTmean", "median", "p90", "p99", "SLO%",
             "expMB/ptok", "exp/call", "steps", "preempt");
  for (const RunResult& r : runs) {
    const Summary& t = r.metrics.ttft;
    fmt::print(
        "{:<11} {:>6.2f} | {:>8.0f} {:>8.0f} {:>8.0f} {:>8.0f} | {:>7.1f} {:>7.1f} {:>7.1f} {:>7.1f} | {:>6.1f} | {:>10.3f} "
        "{:>7.1f} | {:>6} {:>6}\n",
        r.policy, r.rate, t.mean * 1e3, t.median * 1e3, t.p90 * 1e3, t.p99 * 1e3, r.tbt.mean * 1e3, r.tbt.median * 1e3,
        r.tbt.p90 * 1e3, r.tbt.p99 * 1e3, r.metrics.slo_attainment, r.expert_bytes_per_prompt_token() / 1e6,
        r.moe_calls ? double(r.experts_touched) / double(r.moe_calls) : 0.0, r.steps, r.preemptions);
  }
}

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// Measured next to simulated: TTFT mean / median / p99 and TBT mean / p99
// (every inter-token gap pooled), with simulated / measured.
void print_simulation(const std::vector<RunResult>& runs) {
  fmt::print("\nmeasured vs simulated (ms; ratio = simulated / measured)\n");
  fmt::print("{:<11} | {:>19} | {:>19} | {:>19} | {:>19} | {:>19} | {:>19} | {:>11} | {:>13} | {:>11}\n", "policy",
             "TTFT mean", "TTFT median", "TTFT p99", "TBT mean", "TBT p99", "decode step median", "steps",
             "busy s", "exp/call");
  int within = 0, cells = 0;
  for (const RunResult& r : runs) {
    if (!r.simulated) continue;
    const Summary &mt = r.metrics.ttft, &st = r.simulated->metrics.ttft;
    const double pairs[5][2] = {{mt.mean, st.mean},   {mt.median, st.median}, {mt.p99, st.p99},
                                {r.tbt.mean, r.simulated_tbt.mean}, {r.tbt.p99, r.simulated_tbt.p99}};
    std::string line = fmt::format("{:<11}", r.policy);
    for (int i = 0; i < 5; ++i) {
      const double q = ratio(pairs[i][1], pairs[i][0]);
      line += fmt::format(" | {:>6.0f} {:>6.0f} {:>5.2f}", pairs[i][0] * 1e3, pairs[i][1] * 1e3, q);
      ++cells;
      within += std::abs(q - 1) <= 0.25 ? 1 : 0;
    }
    // Not counted, what explains the rest: a decode step's own cost, the
    // steps taken, time spent in steps, distinct experts per MoE call.
    const sim::SimResult& q = *r.simulated;
    line += fmt::format(" | {:>6.0f} {:>6.0f} {:>5.2f} | {:>5} {:>5} | {:>6.2f} {:>6.2f} | {:>5.1f} {:>5.1f}",
                        r.decode_steps.median * 1e3, r.simulated_decode_steps.median * 1e3,
                        ratio(r.simulated_decode_steps.median, r.decode_steps.median), r.steps, q.steps,
                        r.busy_seconds, q.busy_seconds, ratio(double(r.experts_touched), double(r.moe_calls)),
                        ratio(double(q.experts_touched), double(q.moe_calls)));
    fmt::print("{}\n", line);
  }
  fmt::print("{} of {} TTFT/TBT figures within 25% of measured\n", within, cells);
}

nlohmann::json run_json(const RunResult& r) {
  auto summary = [](const Summary& s) {
    return nlohmann::json{{"mean", s.mean * 1e3}, {"median", s.median * 1e3}, {"p90", s.p90 * 1e3}, {"p99", s.p99 * 1e3}};
  };
  nlohmann::json simulated;
  if (r.simulated) {
    simulated = {{"ttft_ms", summary(r.simulated->metrics.ttft)},
                 {"tbt_ms", summary(r.simulated_tbt)},
                 {"tpot_ms", summary(r.simulated->metrics.tpot)},
                 {"steps", r.simulated->steps},
                 {"decode_step_ms", summary(r.simulated_decode_steps)},
                 {"busy_s", r.simulated->busy_seconds},
                 {"experts_per_moe_call", ratio(double(r.simulated->experts_touched), double(r.simulated->moe_calls))},
                 {"slo_attainment_pct", r.simulated->metrics.slo_attainment}};
  }
  return {{"policy", r.policy},
          {"request_rate", r.rate},
          {"completed", r.metrics.completed},
          {"duration_s", r.metrics.duration},
          {"ttft_ms", summary(r.metrics.ttft)},
          {"tbt_ms", summary(r.tbt)},
          {"tpot_ms", summary(r.metrics.tpot)},
          {"e2el_ms", summary(r.metrics.e2el)},
          {"slo_attainment_pct", r.metrics.slo_attainment},
          {"tbt_gaps_met_pct", r.metrics.tbt_gaps_met},
          {"prompt_tokens", r.prompt_tokens},
          {"expert_bytes", r.expert_bytes},
          {"expert_bytes_per_prompt_token", r.expert_bytes_per_prompt_token()},
          {"experts_per_moe_call", r.moe_calls ? double(r.experts_touched) / double(r.moe_calls) : 0.0},
          {"layer_rows", r.layer_rows},
          {"steps", r.steps},
          {"preemptions", r.preemptions},
          {"engine_busy_s", r.busy_seconds},
          {"decode_step_ms", summary(r.decode_steps)},
          {"speculative", r.speculative ? nlohmann::json{{"drafts", r.speculative->spec_num_drafts},
                                                         {"draft_tokens", r.speculative->spec_num_draft_tokens},
                                                         {"accepted_tokens", r.speculative->spec_num_accepted_tokens},
                                                         {"accepted_per_position", r.speculative->spec_accepted_per_pos}}
                                        : nlohmann::json()},
          {"simulated", simulated}};
}

}  // namespace

void run_engine_bench(const Model& model, const EngineBenchOptions& options) {
  EngineBenchOptions o = options;
  if (o.num_prompts < 1) fail("bench engine: --num-prompts must be at least 1");
  bool any_slo = false;
  for (const std::string& p : o.policies) any_slo |= engine_config(o, p).schedule == "slo";  // rejects unknown ones
  std::optional<sim::SimModel> sim_model;
  std::optional<sim::HardwareProfile> hardware;
  if (!o.simulate.empty() || any_slo) sim_model = sim::sim_model_of(model, o.model_dir);
  if (!o.simulate.empty()) {
    if (o.simulate == "calibrate") {
      fmt::print(stderr, "calibrating on the loaded model (strata sim calibrate; about 1.5 min) ...\n");
      const sim::Calibration c = sim::calibrate_cpu(model, *sim_model);
      hardware = c.profile;
      fmt::print("calibrated profile: fit over {} timed steps, rms error {:.1f}%, worst {:.1f}%\n{}\n", c.steps.size(),
                 c.fit.rms_relative_error * 100, c.fit.max_relative_error * 100, c.profile.to_json().dump());
    } else {
      hardware = sim::resolve_hardware(o.simulate);
    }
  }
  if (any_slo) {
    // One profile sizes every slo run's steps: fitted before any run, so
    // each sees the machine in the same state.
    sim::HardwareProfile profile;
    if (!o.cost_profile.empty()) {
      profile = sim::resolve_hardware(o.cost_profile);
    } else if (hardware) {
      profile = *hardware;
    } else {
      profile = sim::cached_or_fitted_profile(model, *sim_model, o.model_dir, /*refit=*/false);
    }
    o.engine.step_seconds = sim::step_seconds_estimate(*sim_model, profile, 1, 0);
  }
  for (double rate : o.request_rates) {
    if (!(rate > 0)) fail("bench engine: request rates must be positive (got {})", rate);
  }
  const std::optional<Slo> slo = o.slo.empty() ? std::nullopt : std::optional<Slo>(parse_slo(o.slo));
  const std::vector<BenchRequest> trace = make_trace(model, o);
  {
    std::vector<double> prompts, outputs;
    for (const BenchRequest& r : trace) prompts.push_back(r.prompt_len), outputs.push_back(r.output_len);
    const Summary p = summarize(prompts), out = summarize(outputs);
    fmt::print("{} requests ({} x{}): prompt mean {:.0f} / median {:.0f} / p90 {:.0f}; output mean {:.0f} / median {:.0f} / p90 {:.0f}\n",
               trace.size(), o.dataset, o.scale_lengths, p.mean, p.median, p.p90, out.mean, out.median, out.p90);
  }
  nlohmann::json all = nlohmann::json::array();
  for (double rate : o.request_rates) {
    std::vector<RunResult> runs;
    for (const std::string& policy : o.policies) {
      runs.push_back(run_one(model, o, policy, rate, trace, slo));
      if (hardware) simulate_run(model, o, policy, rate, trace, *sim_model, *hardware, slo, runs.back());
      all.push_back(run_json(runs.back()));
    }
    fmt::print("\nrequest rate {} req/s (times in ms; TBT pools every inter-token gap; expert bytes include decodes)\n", rate);
    print_table(runs);
    if (hardware) print_simulation(runs);
    auto find = [&](const char* name) -> const RunResult* {  // the first run of that policy, any budget
      for (const RunResult& r : runs)
        if (r.policy.substr(0, r.policy.find(':')) == name) return &r;
      return nullptr;
    };
    const auto compare = [](const RunResult* a, const RunResult* b) {
      if (!a || !b) return;
      fmt::print("{}/{}: TTFT mean {:.2f} p99 {:.2f} | TBT mean {:.2f} p99 {:.2f} | SLO {:.1f}% vs {:.1f}% | "
                 "expert bytes/prompt token {:.2f}\n",
                 a->policy, b->policy, ratio(a->metrics.ttft.mean, b->metrics.ttft.mean),
                 ratio(a->metrics.ttft.p99, b->metrics.ttft.p99), ratio(a->tbt.mean, b->tbt.mean),
                 ratio(a->tbt.p99, b->tbt.p99), a->metrics.slo_attainment, b->metrics.slo_attainment,
                 ratio(a->expert_bytes_per_prompt_token(), b->expert_bytes_per_prompt_token()));
    };
    const RunResult *layered = find("layered"), *chunked = find("chunked"), *slo = find("slo");
    compare(layered, chunked);
    compare(slo, layered);
    compare(slo, chunked);
  }
  if (!o.output_json.empty()) {
    std::ofstream out(o.output_json);
    if (!out) fail("bench engine: cannot write {}", o.output_json);
    out << nlohmann::json{{"dataset", o.dataset}, {"scale_lengths", o.scale_lengths}, {"num_prompts", o.num_prompts},
                          {"slo", o.slo}, {"simulated_on", o.simulate}, {"runs", all}}
               .dump(2)
        << "\n";
  }
}

}  // namespace strata::bench
