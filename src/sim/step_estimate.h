#pragma once
// The slo schedule's step-time estimate: the simulator's cost model on a
// fitted hardware profile, with expected (not sampled) expert routing so the
// same plan always gets the same estimate.
#include <cstdint>
#include <string>

#include "engine/scheduler.h"
#include "sim/hardware_profile.h"
#include "sim/sim_model.h"

namespace strata {
class Model;
}

namespace strata::sim {

// The loaded model as the cost model sees it: from its folder's
// config.json and stored sizes, or (a GGUF file) from its config alone.
SimModel sim_model_of(const Model& model, const std::string& model_path);

StepSecondsEstimate step_seconds_estimate(const SimModel& model, const HardwareProfile& hardware,
                                          int32_t tensor_parallel, double router_skew);

}  // namespace strata::sim
