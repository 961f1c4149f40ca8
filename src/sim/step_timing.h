#pragma once
// Times real engine steps on a loaded model, for `strata sim calibrate`.
// Each probe is a short list of StepPlans built by hand (decode batches at a
// chosen context, prompt chunks after a chosen cached prefix, chunks mixed
// with decodes, a layered cohort's stages as the layered policy cuts them);
// the engine's Executor runs each plan on a paged KV cache and every row
// that needs logits is sampled greedily, which is the work of one
// Engine::step without its locks and streams. The KV rows a probe reads
// before writing them are whatever the cache holds (zeros): attention costs
// the same whatever the keys are. All probes are replayed in `repeats`
// rounds after one untimed warm-up round, and each step keeps its median.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/step_plan.h"

namespace strata {
class Model;
}

namespace strata::sim {

// One entry of a probe step: tokens [token_begin, token_end) of request
// `request` through layers [layer_begin, layer_end) (layer_end 0: all).
struct ProbeEntry {
  int32_t request = 0;
  int32_t token_begin = 0, token_end = 0;
  int32_t layer_begin = 0, layer_end = 0;
  bool needs_logits = false;
  bool load_activations = false, keep_activations = false;
};

struct Probe {
  std::string label;
  std::vector<std::vector<ProbeEntry>> steps;  // run in order; a layered cohort's stages need it
};

struct TimedStep {
  std::string probe;
  // The plan as the cost model prices it: entries carry their shapes and
  // null sequence pointers.
  StepPlan plan;
  double seconds = 0;  // median over repeats
  // What the model's router really did (the cost model samples its own).
  int64_t moe_calls = 0, experts_touched = 0;
};

// The calibration set for a model of `num_layers` layers: decode batches of
// 1..16 at contexts 64 and 512; prompt chunks of 16..512 tokens after 0 and
// 256 cached tokens; 64- and 256-token chunks with 4 decodes; layered
// cohorts of 64 and 256 tokens in min(4, num_layers) stages, alone and with
// 2 decodes. All its requests fit in 1024 tokens.
std::vector<Probe> calibration_probes(int32_t num_layers);

// Runs the probes (see above); `progress` (optional) is told of each round.
std::vector<TimedStep> time_probes(const Model& model, const std::vector<Probe>& probes, int repeats,
                                   const std::function<void(const std::string&)>& progress = {});

}  // namespace strata::sim
