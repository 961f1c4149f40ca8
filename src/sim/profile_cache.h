#pragma once
// A fitted profile of this machine for a model, kept across runs: the slo
// schedule needs one at start-up, and fitting it times ~40 real steps
// (about 30 s on the default model). Kept in
// $XDG_CACHE_HOME (or ~/.cache)/strata/cost-profiles, keyed by the model's
// path, its config's (or GGUF file's) modification time, the thread count,
// the selected kernels and the executable's modification time.
#include <string>

#include "sim/hardware_profile.h"
#include "sim/sim_model.h"

namespace strata {
class Model;
}

namespace strata::sim {

// The kept profile, or a new fit (then kept). `refit` fits even when one is kept.
HardwareProfile cached_or_fitted_profile(const Model& model, const SimModel& sim_model, const std::string& model_path,
                                         bool refit);

}  // namespace strata::sim
