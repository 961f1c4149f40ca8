#pragma once
// Fits a hardware profile's rates and overheads to measured step times, for
// `strata sim calibrate`. Each sample is a step's StepWork (cost_model.h)
// and its measured seconds; the model is the cost model itself:
//   seconds = sum over operations of count x (max(c, m) + (1 - overlap) min(c, m))
//             with c = flops / flop rate of its kind, m = bytes / bandwidth
//             of its kind,
//             + layers x layer_overhead + logits rows x logits_overhead
//             + step_overhead
// Given the overlap and which side of each roofline binds, that is linear in
// the inverse rates and the overheads, so the fit alternates: take the
// binding sides under the current parameters, solve the non-negative
// least-squares problem in relative error (every step counts the same, a
// 40 ms decode as much as a 2 s prompt), and repeat until the binding sides
// stop changing. That runs for overlaps 0, 0.25, ..., 1 and the best fit
// wins. It starts from `start` (whose overlap is ignored) and is
// deterministic. A rate the data drives to infinity (its side never costs
// anything) is left 1e6 times its start value.
#include <string>
#include <vector>

#include "sim/cost_model.h"

namespace strata::sim {

struct StepSample {
  StepWork work;
  double seconds = 0;
};

// Effective rates: the profile's peak x efficiency of each kind.
struct FittedRates {
  double matmul_flops = 0, attention_flops = 0, expert_flops = 0;  // FLOP/s
  double weight_bandwidth = 0, expert_bandwidth = 0;               // bytes/s (dense weights and KV; experts)
  double layer_overhead = 0, logits_overhead = 0, step_overhead = 0;  // seconds
  double overlap = 1;  // roofline_overlap

  // The profile these rates are: peaks are the largest rate of each axis
  // (bandwidth at least `stream_bandwidth`), efficiencies the fractions.
  HardwareProfile profile(const std::string& name, double stream_bandwidth, double memory_bytes) const;
};

struct ProfileFit {
  FittedRates rates;
  double rms_relative_error = 0, max_relative_error = 0;
  int iterations = 0;
  // Parameters no sample constrains (kept at their start values).
  std::vector<std::string> unconstrained;
};

// Throws Error on empty input or non-positive times.
ProfileFit fit_rates(const std::vector<StepSample>& samples, const FittedRates& start);

// Seconds the rates give a step (TP 1).
double predicted_seconds(const StepWork& work, const FittedRates& rates);

}  // namespace strata::sim
