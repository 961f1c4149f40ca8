#pragma once
// Measures this machine running strata's own engine steps and turns the
// times into a HardwareProfile, so the simulator can be checked against the
// real engine (`strata sim calibrate`, `strata bench engine --simulate`):
//   1. time_probes (step_timing.h) runs decode batches, prompt chunks after
//      cached prefixes, chunks mixed with decodes and layered stages on the
//      loaded model, median of `repeats` runs each;
//   2. the cost model turns each probe step into its StepWork and fit_rates
//      (profile_fit.h) fits the effective FLOP rates (dense matmul,
//      attention, experts), bandwidths (dense weights and KV, experts) and
//      the per-layer, per-logits-row and per-step overheads to those times;
//   3. memory_bandwidth is at least a multi-threaded streaming read of a
//      large buffer, so bandwidth efficiencies stay fractions of it.
// Why real steps and not isolated kernels: a step is also norms, RoPE,
// routing, gathers, fork-joins and sampling, which a matmul benchmark does
// not see; fitted on whole steps the simulator agrees with the engine (see
// README, "Reproducing layered prefill").
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sim/hardware_profile.h"
#include "sim/profile_fit.h"
#include "sim/sim_model.h"
#include "sim/step_timing.h"

namespace strata {
class Model;
}

namespace strata::sim {

struct CalibrationOptions {
  int repeats = 5;  // timed rounds of the probes (median)
  double stream_bytes = 256e6;  // streaming-read buffer, well beyond the LLC
  uint64_t router_seed = 0;     // of the cost model's router while fitting
};

struct Calibration {
  HardwareProfile profile;
  ProfileFit fit;
  double stream_bytes_per_second = 0;
  std::vector<TimedStep> steps;
  std::vector<double> predicted_seconds;  // per step, by the fitted profile
  std::vector<int64_t> simulated_experts;  // per step, distinct experts the cost model's router drew
};

// `sim_model` must describe `model` (sim_model_from_folder of its folder).
Calibration calibrate_cpu(const Model& model, const SimModel& sim_model, const CalibrationOptions& options = {},
                          const std::function<void(const std::string&)>& progress = {});

}  // namespace strata::sim
