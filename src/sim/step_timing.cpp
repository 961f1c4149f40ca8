#include "sim/step_timing.h"

#include <algorithm>
#include <chrono>

#include <fmt/core.h>

#include "core/error.h"
#include "engine/executor.h"
#include "engine/paged_kv_cache.h"
#include "engine/sampler.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"
#include "model/model.h"

namespace strata::sim {

namespace {

constexpr int32_t kMaxRequests = 16;
constexpr int32_t kMaxTokens = 1024;  // per request
constexpr int32_t kBlockSize = 16;

ProbeEntry decode(int32_t request, int32_t context) { return {request, context - 1, context, 0, 0, true}; }

ProbeEntry chunk(int32_t request, int32_t prefix, int32_t tokens, bool last) {
  return {request, prefix, prefix + tokens, 0, 0, last};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

std::vector<Probe> calibration_probes(int32_t num_layers) {
  std::vector<Probe> probes;
  for (int32_t context : {64, 512}) {
    for (int32_t batch : {1, 2, 4, 8, 16}) {
      Probe p{"decode " + std::to_string(batch) + " @ " + std::to_string(context), {{}}};
      for (int32_t r = 0; r < batch; ++r) p.steps[0].push_back(decode(r, context));
      probes.push_back(std::move(p));
    }
  }
  // A first chunk ends its prompt (logits); a chunk after a prefix does not,
  // so the LM head is seen both with and without prompt work.
  for (int32_t prefix : {0, 256}) {
    for (int32_t tokens : {16, 64, 128, 256, 512}) {
      probes.push_back({"chunk " + std::to_string(tokens) + " after " + std::to_string(prefix),
                        {{chunk(0, prefix, tokens, prefix == 0)}}});
    }
  }
  for (int32_t tokens : {64, 256}) {
    Probe p{"chunk " + std::to_string(tokens) + " + 4 decodes @ 128", {{chunk(0, 0, tokens, true)}}};
    for (int32_t r = 1; r <= 4; ++r) p.steps[0].push_back(decode(r, 128));
    probes.push_back(std::move(p));
  }
  // A layered cohort as LayeredPolicy cuts it: one layer group per step.
  const int32_t stages = std::min(4, num_layers);
  for (int32_t tokens : {64, 256}) {
    for (int32_t decodes : {0, 2}) {
      Probe p{"layered " + std::to_string(tokens) + " in " + std::to_string(stages) + " stages + " +
                  std::to_string(decodes) + " decodes @ 128",
              {}};
      for (int32_t s = 0; s < stages; ++s) {
        const auto [begin, end] = layer_group(num_layers, stages, s);
        std::vector<ProbeEntry> step{{0, 0, tokens, begin, end, end == num_layers, begin > 0, end < num_layers}};
        for (int32_t r = 1; r <= decodes; ++r) step.push_back(decode(r, 128 + s));
        p.steps.push_back(std::move(step));
      }
      probes.push_back(std::move(p));
    }
  }
  return probes;
}

std::vector<TimedStep> time_probes(const Model& model, const std::vector<Probe>& probes, int repeats,
                                   const std::function<void(const std::string&)>& progress) {
  const ModelConfig& mc = model.config();
  const int32_t num_layers = int32_t(mc.num_hidden_layers);
  const int32_t blocks_per_request = kMaxTokens / kBlockSize;
  PagedKVCache kv(mc, kMaxRequests * blocks_per_request, kBlockSize);
  Executor executor(model, kv);
  // Requests with fixed, in-vocabulary prompt tokens and their own blocks.
  std::vector<Sequence> seqs(kMaxRequests);
  for (int32_t r = 0; r < kMaxRequests; ++r) {
    Sequence& s = seqs[size_t(r)];
    s.id = r;
    for (int32_t t = 0; t < kMaxTokens; ++t) s.prompt.push_back(int32_t((int64_t(r) * 7919 + t * 104729) % mc.vocab_size));
    for (int32_t b = 0; b < blocks_per_request; ++b) s.block_table.push_back(r * blocks_per_request + b);
  }
  Sampler sampler(SamplingParams{.temperature = 0});  // the engine's default for requests

  // Plans of every probe, then replays round-robin (every probe once per
  // round) so that a burst of load from elsewhere spoils one run of many
  // probes, which the medians drop, rather than every run of one.
  std::vector<std::vector<StepPlan>> plans;
  for (const Probe& probe : probes) {
    std::vector<StepPlan>& probe_plans = plans.emplace_back();
    for (const std::vector<ProbeEntry>& step : probe.steps) {
      StepPlan plan;
      for (const ProbeEntry& pe : step) {
        if (pe.request < 0 || pe.request >= kMaxRequests || pe.token_begin < 0 || pe.token_end > kMaxTokens ||
            pe.token_begin >= pe.token_end)
          fail("calibration probe '{}': entry outside {} requests of {} tokens", probe.label, kMaxRequests, kMaxTokens);
        PlanEntry e;
        e.seq = &seqs[size_t(pe.request)];
        e.token_begin = pe.token_begin, e.token_end = pe.token_end;
        e.layer_begin = pe.layer_begin, e.layer_end = pe.layer_end > 0 ? pe.layer_end : num_layers;
        e.is_prefill = pe.token_end - pe.token_begin > 1 || pe.layer_end > 0;
        e.needs_logits = pe.needs_logits;
        e.load_activations = pe.load_activations, e.keep_activations = pe.keep_activations;
        (e.is_prefill ? plan.num_prefill_tokens : plan.num_decode_tokens) += e.num_tokens();
        plan.entries.push_back(e);
      }
      probe_plans.push_back(std::move(plan));
    }
  }
  std::vector<std::vector<std::vector<double>>> seconds(probes.size());
  std::vector<std::vector<ForwardStats>> stats(probes.size());
  for (int round = 0; round <= repeats; ++round) {  // round 0 warms up
    if (progress) progress(round == 0 ? "warm-up round" : fmt::format("round {} of {}", round, repeats));
    for (size_t p = 0; p < probes.size(); ++p) {
      seconds[p].resize(plans[p].size());
      stats[p].resize(plans[p].size());
      for (size_t i = 0; i < plans[p].size(); ++i) {
        const StepPlan& plan = plans[p][i];
        ForwardStats forward;
        const auto t0 = std::chrono::steady_clock::now();
        executor.run(plan, &forward);
        for (size_t e = 0; e < plan.entries.size(); ++e) {
          if (plan.entries[e].needs_logits) (void)sampler.sample(executor.logits(int32_t(e)), mc.vocab_size);
        }
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (round > 0) seconds[p][i].push_back(t);
        stats[p][i] = forward;
      }
    }
  }
  std::vector<TimedStep> out;
  for (size_t p = 0; p < probes.size(); ++p) {
    for (size_t i = 0; i < plans[p].size(); ++i) {
      TimedStep step{probes[p].label, plans[p][i], median(seconds[p][i]), stats[p][i].moe_calls,
                     stats[p][i].experts_touched};
      for (PlanEntry& e : step.plan.entries) e.seq = nullptr;
      out.push_back(std::move(step));
    }
  }
  return out;
}

}  // namespace strata::sim
