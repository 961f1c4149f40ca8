#pragma once
// What `--schedule slo` needs before the Engine is built: a step-time
// estimate for the loaded model on this machine. It is the simulator's cost
// model (sim/step_estimate.h) on a fitted hardware profile: the one
// --cost-profile names (`strata sim calibrate --output FILE`), or one fitted
// now by timing real steps of the model (about 30 s on the default model).
#include <string>

namespace CLI {
class App;
}

namespace strata {

class Model;
struct EngineConfig;

// --tbt-slo-ms and --cost-profile (written into `config` and `cost_profile`).
void add_slo_schedule_options(CLI::App& cmd, EngineConfig& config, std::string& cost_profile);
// Sets config.step_seconds when config.schedule is "slo" (no-op otherwise).
void prepare_slo_schedule(const Model& model, const std::string& model_path, const std::string& cost_profile,
                          EngineConfig& config);

}  // namespace strata
