#include "tools/slo_schedule.h"

#include <CLI/CLI.hpp>

#include "engine/engine.h"
#include "sim/profile_cache.h"
#include "sim/step_estimate.h"

namespace strata {

void add_slo_schedule_options(CLI::App& cmd, EngineConfig& config, std::string& cost_profile) {
  cmd.add_option("--tbt-slo-ms", config.tbt_slo_ms, "slo schedule: time-between-tokens target every step is sized to")
      ->capture_default_str();
  cmd.add_option("--cost-profile", cost_profile,
                 "slo schedule: this machine's profile from `strata sim calibrate` (default: fitted at the first "
                 "start on a model and kept in ~/.cache/strata/cost-profiles; 'refit' fits it again)");
}

void prepare_slo_schedule(const Model& model, const std::string& model_path, const std::string& cost_profile,
                          EngineConfig& config) {
  if (config.schedule != "slo" || config.step_seconds) return;
  const sim::SimModel sim_model = sim::sim_model_of(model, model_path);
  const sim::HardwareProfile profile =
      !cost_profile.empty() && cost_profile != "refit"
          ? sim::resolve_hardware(cost_profile)
          : sim::cached_or_fitted_profile(model, sim_model, model_path, cost_profile == "refit");
  config.step_seconds = sim::step_seconds_estimate(sim_model, profile, 1, 0);
}

}  // namespace strata
