// `strata generate`: one prompt in, text out, with prompt and decode speeds.
// It is a client of the serving Engine (scheduler, paged KV, executor,
// sampling, stop handling, detokenizer), so the path it times is the one
// `strata serve` runs. As llama-bench does, it warms up, then times
// --repeats runs of the same request and reports their median and spread.
// --batch B runs B copies of the request at once (batched decode, as
// llama-batched-bench measures it): decode is timed from the moment every
// copy has its first token, over the tokens all of them make after it.
// Decode is held to the machine's limit: the bytes it reads per token (the
// op profile counts them) over the read bandwidth measured right after each
// run. --profile shows where the prompt pass's and a decode step's time
// goes, op by op.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>

#include "core/error.h"
#include "core/op_profile.h"
#include "bench/edit_dataset.h"
#include "engine/engine.h"
#include "kernels/compute_rates.h"
#include "kernels/read_bandwidth.h"
#include "kernels/solution_registry.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/engine_options.h"
#include "tools/slo_schedule.h"
#include "workbench/workload_capture.h"

namespace strata {
namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  int64_t prompt_tokens = 0;  // > 0: a synthetic prompt of this many tokens (benchmarks)
  int64_t max_tokens = 64;
  std::optional<float> temperature, top_p, min_p;
  std::optional<int64_t> top_k;
  uint64_t seed = 0;
  bool ignore_eos = false;
  std::vector<std::string> stop;
  int repeats = 1;
  int batch = 1;
  bool json = false;
  CaptureOptions capture;
  bool profile = false;
  // The request re-writes a document: its prompt is the prompt, the model's
  // greedy continuation of it and the prompt again (speculative-decoding benchmarks).
  bool edit = false;
  EngineConfig engine;
  std::string cost_profile;  // slo schedule
};

using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Sampling defaults: the model's generation_config.json where it has one,
// overridden by flags; greedy when neither says otherwise.
SamplingParams sampling_params(const Model& model, const GenerateOptions& o) {
  SamplingParams p = model.generation_defaults();
  if (o.temperature) p.temperature = *o.temperature;
  if (o.top_p) p.top_p = *o.top_p;
  if (o.top_k) p.top_k = *o.top_k;
  if (o.min_p) p.min_p = *o.min_p;
  p.validate();
  return p;
}

// A synthetic prompt differs per copy, so that batched copies route to
// different experts, as distinct users' requests do.
std::vector<int32_t> prompt_ids(const Tokenizer& tok, const GenerateOptions& o, int copy) {
  if (o.prompt_tokens == 0) return tok.encode_prompt(o.prompt);
  // Ordinary ids spread over the vocabulary, none of them special.
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < o.prompt_tokens; ++i) ids.push_back(int32_t(1000 + (i * 7919 + copy * 104729) % 50000));
  return ids;
}

// One run of `batch` copies of a request to their end.
struct Generation {
  std::vector<int32_t> tokens;  // the first copy's
  std::vector<std::vector<int32_t>> copy_tokens;  // every copy's
  std::string text;
  FinishReason finish = FinishReason::Length;
  double prompt_seconds = 0;  // submit to the last copy's first token
  double decode_seconds = 0;  // from then to the last token
  int64_t decode_tokens = 0;  // tokens of all copies made in decode_seconds
  OpTotals prompt_ops, decode_ops;  // the op profile of each phase
};

OpTotals operator-(OpTotals a, const OpTotals& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    a[i].calls -= b[i].calls;
    a[i].seconds -= b[i].seconds;
    a[i].bytes -= b[i].bytes;
    for (size_t k = 0; k < a[i].ops.size(); ++k) a[i].ops[k] -= b[i].ops[k];
  }
  return a;
}

OpTotals& operator+=(OpTotals& a, const OpTotals& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    a[i].calls += b[i].calls;
    a[i].seconds += b[i].seconds;
    a[i].bytes += b[i].bytes;
    for (size_t k = 0; k < a[i].ops.size(); ++k) a[i].ops[k] += b[i].ops[k];
  }
  return a;
}

// The arithmetic of all ops, per kind of work.
std::array<double, size_t(Work::kCount)> total_work(const OpTotals& t) {
  std::array<double, size_t(Work::kCount)> w{};
  for (const OpTotal& op : t)
    for (size_t k = 0; k < w.size(); ++k) w[k] += op.ops[k];
  return w;
}

// Submits the copies and steps the engine on this thread until they finish
// (no engine thread: a lone request should not pay for wake-ups). The op
// profile records the prompt pass and, from the moment all copies have
// their first token, the decode steps.
Generation generate(Engine& engine, const Request& request, int batch,
                    const std::function<std::vector<int32_t>(int)>& prompt_of,
                    const std::function<void(const std::string&)>& on_text) {
  Generation g;
  Clock::time_point decode_start, last_token;
  int started = 0;
  std::string error;
  std::vector<int64_t> made(size_t(batch), 0);
  g.copy_tokens.resize(size_t(batch));
  OpTotals mark = op_profile::totals();
  op_profile::enable(true);
  const auto submitted = Clock::now();
  for (int copy = 0; copy < batch; ++copy) {
    Request r = request;
    if (copy > 0) r.prompt = prompt_of(copy);
    r.on_event = [&, copy](const StreamEvent& event) {
      const auto now = Clock::now();
      if (!event.token_ids.empty()) {
        if (made[size_t(copy)] == 0 && ++started == batch) {
          decode_start = now;
          const OpTotals at_first = op_profile::totals();
          g.prompt_ops = at_first - mark;
          mark = at_first;
        } else if (started == batch) {
          g.decode_tokens += int64_t(event.token_ids.size());
        }
        made[size_t(copy)] += int64_t(event.token_ids.size());
        last_token = now;
        std::vector<int32_t>& tokens = g.copy_tokens[size_t(copy)];
        tokens.insert(tokens.end(), event.token_ids.begin(), event.token_ids.end());
      }
      if (copy == 0) {
        g.text += event.text;
        if (on_text && !event.text.empty()) on_text(event.text);
        if (event.finish) g.finish = *event.finish;
      }
      if (!event.error.empty()) error = event.error;
    };
    engine.submit(std::move(r));
  }
  while (engine.has_unfinished()) engine.step();
  op_profile::enable(false);
  g.decode_ops = op_profile::totals() - mark;
  if (!error.empty()) fail("generation failed: {}", error);
  g.tokens = g.copy_tokens[0];
  g.prompt_seconds = seconds_between(submitted, decode_start);
  g.decode_seconds = seconds_between(decode_start, last_token);
  return g;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Tokens per second over a run's median, fastest and slowest time.
struct Rate {
  int64_t tokens = 0;
  double seconds = 0, per_second = 0, min_per_second = 0, max_per_second = 0;
};

Rate rate(int64_t tokens, const std::vector<double>& seconds) {
  auto per_second = [&](double s) { return tokens > 0 && s > 0 ? double(tokens) / s : 0.0; };
  Rate r;
  r.tokens = tokens;
  r.seconds = median(seconds);
  r.per_second = per_second(r.seconds);
  r.min_per_second = per_second(*std::max_element(seconds.begin(), seconds.end()));
  r.max_per_second = per_second(*std::min_element(seconds.begin(), seconds.end()));
  return r;
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

double total_bytes(const OpTotals& t) {
  double b = 0;
  for (const OpTotal& op : t) b += op.bytes;
  return b;
}

// Ops in profile order, the nested join waits last, per step (a decode step
// or a prompt pass); `other` is the time no op accounts for (scheduling,
// stream events, the step loop).
const char* work_name(Work kind) {
  switch (kind) {
    case Work::F32Fma: return "f32 FMAs";
    case Work::Int8Dot: return "int8 dot products";
    case Work::Bf16Dot: return "bf16 dot products";
    case Work::F16Fma: return "fp16 FMAs";
    case Work::kCount: break;
  }
  return "?";
}

nlohmann::json work_json(const std::array<double, size_t(Work::kCount)>& per_kind, double scale) {
  return {{"f32_fma", per_kind[size_t(Work::F32Fma)] * scale},
          {"int8_dot", per_kind[size_t(Work::Int8Dot)] * scale},
          {"bf16_dot", per_kind[size_t(Work::Bf16Dot)] * scale},
          {"f16_fma", per_kind[size_t(Work::F16Fma)] * scale}};
}

// Per kind, the median over runs.
ComputeRates median_rates(const std::vector<ComputeRates>& runs) {
  ComputeRates m;
  for (size_t k = 0; k < m.ops_per_second.size(); ++k) {
    std::vector<double> v;
    for (const ComputeRates& r : runs) v.push_back(r.ops_per_second[k]);
    if (!v.empty()) m.ops_per_second[k] = median(v);
  }
  return m;
}

nlohmann::json profile_json(const OpTotals& t, int64_t steps, double decode_seconds, const ComputeRates& rates) {
  const double tokens = double(steps);
  nlohmann::json ops = nlohmann::json::array();
  double covered = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    const OpTotal& op = t[i];
    if (op.calls == 0) continue;
    if (Op(i) != Op::JoinWait) covered += op.seconds;
    double gop = 0;
    for (double w : op.ops) gop += w / 1e9 / tokens;
    const double limit = compute_limit_seconds(op.ops, rates);
    ops.push_back({{"op", op_name(Op(i))},
                   {"calls_per_step", double(op.calls) / tokens},
                   {"ms_per_step", op.seconds * 1e3 / tokens},
                   {"share", op.seconds / decode_seconds},
                   {"mb_per_step", op.bytes / 1e6 / tokens},
                   {"gb_per_s", op.seconds > 0 ? op.bytes / op.seconds / 1e9 : 0.0},
                   {"gop_per_step", gop},
                   {"compute_fraction", op.seconds > 0 ? limit / op.seconds : 0.0}});
  }
  ops.push_back({{"op", "other"},
                 {"ms_per_step", (decode_seconds - covered) * 1e3 / tokens},
                 {"share", (decode_seconds - covered) / decode_seconds}});
  return ops;
}

// "of read": the op's bytes per second over the read bandwidth; "of peak":
// its arithmetic at the measured rates over its time.
void print_profile(const char* phase, const char* step, const OpTotals& t, int64_t steps, double decode_seconds,
                   double read_gb_per_s, const ComputeRates& rates) {
  if (steps <= 0) return;
  fmt::print(stderr, "\n{}, per {} over {} ({:.3f} ms each):\n", phase, step, steps, decode_seconds * 1e3 / double(steps));
  fmt::print(stderr, "{:<30} {:>8} {:>9} {:>7} {:>9} {:>8} {:>8} {:>9} {:>8}\n", "op", "calls", "ms", "share", "MB read",
             "GB/s", "of read", "GOP", "of peak");
  for (const nlohmann::json& op : profile_json(t, steps, decode_seconds, rates)) {
    const double gbs = op.value("gb_per_s", 0.0), gop = op.value("gop_per_step", 0.0);
    fmt::print(stderr, "{:<30} {:>8.1f} {:>9.3f} {:>6.1f}% {:>9.2f} {:>8.1f} {:>8} {:>9.2f} {:>8}\n",
               op["op"].get<std::string>(), op.value("calls_per_step", 0.0), op["ms_per_step"].get<double>(),
               100 * op["share"].get<double>(), op.value("mb_per_step", 0.0), gbs,
               gbs > 0 && read_gb_per_s > 0 ? fmt::format("{:.2f}", gbs / read_gb_per_s) : std::string("-"), gop,
               gop > 0 ? fmt::format("{:.2f}", op.value("compute_fraction", 0.0)) : std::string("-"));
  }
}

// Speculative decoding over the timed runs (counters `to` minus `from`):
// drafts, proposed and accepted tokens, the acceptance rate and, per draft
// position, the fraction of drafts accepted up to it, and decode steps saved
// (accepted tokens per draft: each accepted token is a forward pass not run).
nlohmann::json speculative_json(const EngineCounters& from, const EngineCounters& to) {
  const int64_t drafts = to.spec_num_drafts - from.spec_num_drafts;
  const int64_t proposed = to.spec_num_draft_tokens - from.spec_num_draft_tokens;
  const int64_t accepted = to.spec_num_accepted_tokens - from.spec_num_accepted_tokens;
  auto ratio = [](int64_t a, int64_t b) { return b > 0 ? double(a) / double(b) : 0.0; };
  nlohmann::json per_pos = nlohmann::json::array();
  for (size_t pos = 0; pos < to.spec_accepted_per_pos.size(); ++pos) {
    per_pos.push_back(ratio(to.spec_accepted_per_pos[pos] - from.spec_accepted_per_pos[pos], drafts));
  }
  return {{"drafts", drafts},
          {"draft_tokens", proposed},
          {"accepted_tokens", accepted},
          {"acceptance_rate", ratio(accepted, proposed)},
          {"accepted_per_draft", ratio(accepted, drafts)},
          {"acceptance_by_position", per_pos}};
}

void run_generate(GenerateOptions o) {
  if (o.prompt.empty() == (o.prompt_tokens == 0))
    fail("give exactly one of --prompt TEXT or --prompt-tokens N");
  if (o.max_tokens < 1) fail("--max-tokens must be at least 1");
  if (o.repeats < 1) fail("--repeats must be at least 1");
  if (o.batch < 1) fail("--batch must be at least 1");

  const auto load_start = Clock::now();
  auto model = Model::load(o.model, {.mtp = o.engine.speculative.needs_mtp_modules()});
  const double load_seconds = seconds_between(load_start, Clock::now());
  if (!o.capture.dir.empty()) start_workload_capture(o.capture);
  const Tokenizer& tok = model->tokenizer();
  std::vector<std::vector<int32_t>> edit_prompts;  // by copy, with --edit
  const std::function<std::vector<int32_t>(int)> prompt_of = [&](int copy) {
    return o.edit ? edit_prompts[size_t(copy)] : prompt_ids(tok, o, copy);
  };
  if (prompt_ids(tok, o, 0).empty()) fail("the prompt encodes to no tokens");
  // With --edit the prompt grows to twice the prompt plus a continuation.
  const int64_t context = (o.edit ? 2 : 1) * (int64_t(prompt_ids(tok, o, 0).size()) + o.max_tokens);
  if (context > model->config().max_context_length())
    fail("prompt ({} tokens) plus --max-tokens ({}) exceeds the maximum context length of {} tokens{}",
         prompt_ids(tok, o, 0).size(), o.max_tokens, model->config().max_context_length(), o.edit ? " (twice, with --edit)" : "");

  // KV for these sequences, not a server's budget. Prefix caching is off so
  // that every repetition and copy computes the whole prompt.
  o.engine.num_kv_blocks = o.batch * int32_t((context + o.engine.block_size - 1) / o.engine.block_size);
  o.engine.max_num_seqs = std::max(o.engine.max_num_seqs, o.batch);
  o.engine.prefix_caching = false;
  prepare_slo_schedule(*model, o.model, o.cost_profile, o.engine);
  Engine engine(*model, o.engine);

  if (o.edit) {
    std::vector<std::vector<int32_t>> plain;
    for (int copy = 0; copy < o.batch; ++copy) plain.push_back(prompt_ids(tok, o, copy));
    edit_prompts = bench::edit_prompts(engine, plain, int32_t(o.max_tokens));
  }
  const std::vector<int32_t> prompt = prompt_of(0);
  Request request;
  request.prompt = prompt;
  request.params.sampling = sampling_params(*model, o);
  request.params.seed = o.seed;
  request.params.max_tokens = int32_t(o.max_tokens);
  request.params.ignore_eos = o.ignore_eos;
  request.params.stop = o.stop;

  // Warm-up, as llama-bench's: the prompt and one decode step. Its time to
  // first token is the cold first forward after start-up.
  Request warm_up = request;
  warm_up.params.max_tokens = std::min<int32_t>(2, request.params.max_tokens);
  warm_up.params.ignore_eos = true;
  warm_up.params.stop.clear();
  const double first_forward_seconds = generate(engine, warm_up, 1, prompt_of, nullptr).prompt_seconds;
  const EngineCounters after_warm_up = engine.counters();

  // The text is shown as the first timed run produces it; the same seed
  // makes every run produce the same tokens.
  const std::function<void(const std::string&)> print_text = [](const std::string& text) {
    fmt::print("{}", text);
    std::fflush(stdout);
  };
  // Each run's decode is paired with a read of the bytes it read per token,
  // and its prompt pass with a measurement of the arithmetic rates.
  std::vector<double> prompt_seconds, decode_seconds, read_gb_per_s, fractions, compute_fractions;
  std::vector<ComputeRates> rates;
  Generation first;
  std::optional<ColdReader> reader;  // made at the first measurement, sized to the reads
  OpTotals prompt_profile{}, profile{};
  double bytes_per_token = 0;
  int64_t profiled_tokens = 0, decode_tokens = 0;
  for (int i = 0; i < o.repeats; ++i) {
    Generation g = generate(engine, request, o.batch, prompt_of, i == 0 && !o.json ? print_text : nullptr);
    prompt_seconds.push_back(g.prompt_seconds);
    decode_seconds.push_back(g.decode_seconds);
    const int64_t decoded = g.decode_tokens;
    decode_tokens = decoded;
    profiled_tokens += decoded;
    if (decoded > 0 && g.decode_seconds > 0) {
      // A step reads its weights once for all the sequences in it.
      const double bytes_per_step = total_bytes(g.decode_ops) * o.batch / double(decoded);
      bytes_per_token = bytes_per_step / o.batch;
      // A ring far beyond the last-level cache; 4 steps' bytes suffice for big models.
      if (!reader) reader.emplace(std::clamp(size_t(4 * bytes_per_step), size_t(256) << 20, size_t(1) << 30));
      read_gb_per_s.push_back(reader->gb_per_s(size_t(bytes_per_step), 3));
      fractions.push_back(bytes_per_token * double(decoded) / g.decode_seconds / 1e9 / read_gb_per_s.back());
    }
    rates.push_back(measure_compute_rates());
    const double limit = compute_limit_seconds(total_work(g.prompt_ops), rates.back());
    if (limit > 0 && g.prompt_seconds > 0) compute_fractions.push_back(limit / g.prompt_seconds);
    prompt_profile += g.prompt_ops;
    profile += g.decode_ops;
    if (i == 0) first = std::move(g);
  }
  // The first token comes from the prompt pass; the decode rate counts the
  // forward passes made after it.
  const Rate prompt_rate = rate(int64_t(prompt.size()) * o.batch, prompt_seconds);
  const Rate decode_rate = rate(decode_tokens, decode_seconds);
  const char* finish_reason = to_string(first.finish);

  if (o.json) {
    nlohmann::json out = {{"text", first.text},
                          {"tokens", first.tokens},
                          {"finish_reason", finish_reason},
                          {"load_seconds", load_seconds},
                          {"first_forward_seconds", first_forward_seconds},
                          {"repeats", o.repeats},
                          {"batch", o.batch},
                          {"prompt_tokens", prompt_rate.tokens},
                          {"prompt_seconds", prompt_rate.seconds},
                          {"prompt_tokens_per_second", prompt_rate.per_second},
                          {"prompt_tokens_per_second_min", prompt_rate.min_per_second},
                          {"prompt_tokens_per_second_max", prompt_rate.max_per_second},
                          {"decode_tokens", decode_rate.tokens},
                          {"decode_seconds", decode_rate.seconds},
                          {"decode_tokens_per_second", decode_rate.per_second},
                          {"decode_tokens_per_second_min", decode_rate.min_per_second},
                          {"decode_tokens_per_second_max", decode_rate.max_per_second}};
    const ComputeRates rate = median_rates(rates);
    const auto work = total_work(prompt_profile);
    out["prompt_work_per_pass"] = work_json(work, 1.0 / o.repeats);
    out["compute_rates_per_s"] = work_json(rate.ops_per_second, 1.0);
    for (const auto& [definition, solution] : numeric_path_selections())
      out["numeric_paths"][std::string(definition)] = numeric_path_name(solution->path);
    if (!compute_fractions.empty()) out["prompt_compute_fraction"] = median(compute_fractions);
    if (!fractions.empty()) {
      out["decode_bytes_per_token"] = bytes_per_token;
      out["read_bandwidth_gb_per_s"] = median(read_gb_per_s);
      out["decode_bandwidth_fraction"] = median(fractions);
    }
    if (o.engine.speculative.enabled()) out["speculative"] = speculative_json(after_warm_up, engine.counters());
    if (o.profile) {
      out["prompt_profile"] = profile_json(prompt_profile, o.repeats, sum(prompt_seconds), rate);
      out["decode_profile"] = profile_json(profile, profiled_tokens / o.batch, sum(decode_seconds), rate);
    }
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("\n");
  auto spread = [&](const Rate& r) {
    return o.repeats > 1 ? fmt::format(" ({:.1f}-{:.1f})", r.min_per_second, r.max_per_second) : std::string();
  };
  fmt::print(stderr,
             "\nload {:.2f} s | first forward {:.2f} s | prompt: {} tokens, {:.1f}{} tokens/s | decode: {} tokens, "
             "{:.1f}{} tokens/s ({}){}\n",
             load_seconds, first_forward_seconds, prompt_rate.tokens, prompt_rate.per_second, spread(prompt_rate),
             first.tokens.size(), decode_rate.per_second, spread(decode_rate), finish_reason,
             o.repeats > 1 ? fmt::format(" | median of {} runs", o.repeats) : std::string());
  if (o.engine.speculative.enabled()) {
    const nlohmann::json spec = speculative_json(after_warm_up, engine.counters());
    fmt::print(stderr, "speculative: {} of {} draft tokens accepted ({:.1f}%), {:.2f} per draft; by position {}\n",
               spec["accepted_tokens"].get<int64_t>(), spec["draft_tokens"].get<int64_t>(),
               100 * spec["acceptance_rate"].get<double>(), spec["accepted_per_draft"].get<double>(),
               spec["acceptance_by_position"].dump());
  }
  if (!compute_fractions.empty()) {
    const ComputeRates rate = median_rates(rates);
    const auto work = total_work(prompt_profile);
    std::string done, at;
    for (size_t k = 0; k < work.size(); ++k) {
      if (work[k] <= 0) continue;
      const char* sep = done.empty() ? "" : " and ";
      done += fmt::format("{}{:.1f} G ops in {}", sep, work[k] / o.repeats / 1e9, work_name(Work(k)));
      at += fmt::format("{}{:.0f}", sep, rate.ops_per_second[k] / 1e9);
    }
    fmt::print(stderr, "prompt pass computes {}: {:.2f} of the limit set by the {} G ops/s measured after each run\n",
               done, median(compute_fractions), at);
  }
  if (!fractions.empty()) {
    fmt::print(stderr, "decode reads {:.0f} MB per token: {:.2f} of the limit that sets at the {:.1f} GB/s read "
               "bandwidth measured after each run\n",
               bytes_per_token / 1e6, median(fractions), median(read_gb_per_s));
  }
  if (o.profile) {
    const ComputeRates rate = median_rates(rates);
    print_profile("prompt pass", "pass", prompt_profile, o.repeats, sum(prompt_seconds), median(read_gb_per_s), rate);
    print_profile("decode", "step", profile, profiled_tokens / o.batch, sum(decode_seconds), median(read_gb_per_s),
                  rate);
  }
  if (!o.capture.dir.empty()) {
    fmt::print(stderr, "{} workloads recorded in {}\n", flush_workload_capture(), o.capture.dir);
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt and report prompt/decode speed");
  cmd->add_option("--model", o->model, "Hugging Face model folder or .gguf file")->required();
  add_kernel_table_option(*cmd);
  add_trace_workloads_options(*cmd, o->capture);
  cmd->add_option("--prompt", o->prompt, "Prompt text (used as is, no chat template)");
  cmd->add_option("--prompt-tokens", o->prompt_tokens, "Use a synthetic prompt of N tokens instead (benchmarks)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", o->temperature, "Sampling temperature (0 = greedy; default from generation_config.json)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling threshold");
  cmd->add_option("--top-k", o->top_k, "Sample among the k most likely tokens (0 = all)");
  cmd->add_option("--min-p", o->min_p, "Drop tokens below min-p times the top probability");
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-sequence tokens");
  cmd->add_option("--stop", o->stop, "Stop at this string (repeatable; not included in the text)")
      ->allow_extra_args(false);
  cmd->add_option("--repeats", o->repeats, "Timed runs after one warm-up (the median and spread are reported)")
      ->capture_default_str();
  cmd->add_option("--batch", o->batch,
                  "Run this many copies of the request at once (batched decode; with --prompt-tokens each copy has "
                  "its own prompt)")
      ->capture_default_str();
  cmd->add_flag("--edit", o->edit,
                "Re-write a document: the prompt becomes the prompt, the model's greedy continuation of it "
                "(--max-tokens long) and the prompt again, so the output tends to copy the prompt's spans "
                "(where --speculative-config ngram pays)");
  cmd->add_flag("--json", o->json, "Print one JSON object with the text and the timings");
  cmd->add_flag("--profile", o->profile, "Show the prompt pass's and the decode steps' time and bytes read per op");
  add_schedule_options(*cmd, o->engine);
  add_slo_schedule_options(*cmd, o->engine, o->cost_profile);
  add_speculative_option(*cmd, o->engine);
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace strata
