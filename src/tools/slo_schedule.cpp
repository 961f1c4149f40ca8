#include "tools/slo_schedule.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "engine/engine.h"
#include "model/model.h"
#include "sim/calibrate.h"
#include "sim/step_estimate.h"

namespace strata {

void add_slo_schedule_options(CLI::App& cmd, EngineConfig& config, std::string& cost_profile) {
  cmd.add_option("--tbt-slo-ms", config.tbt_slo_ms, "slo schedule: time-between-tokens target every step is sized to")
      ->capture_default_str();
  cmd.add_option("--cost-profile", cost_profile,
                 "slo schedule: this machine's profile from `strata sim calibrate` (default: fit one at start-up)");
}

void prepare_slo_schedule(const Model& model, const std::string& model_path, const std::string& cost_profile,
                          EngineConfig& config) {
  if (config.schedule != "slo" || config.step_seconds) return;
  const sim::SimModel sim_model = sim::sim_model_of(model, model_path);
  sim::HardwareProfile profile;
  if (!cost_profile.empty()) {
    profile = sim::resolve_hardware(cost_profile);
  } else {
    fmt::print(stderr, "strata: slo schedule: timing steps of the model to fit its cost model ...\n");
    const sim::Calibration c = sim::calibrate_cpu(model, sim_model, {.repeats = 2});
    fmt::print(stderr, "strata: slo schedule: fitted over {} steps, rms error {:.1f}%\n", c.steps.size(),
               100 * c.fit.rms_relative_error);
    profile = c.profile;
  }
  config.step_seconds = sim::step_seconds_estimate(sim_model, profile, 1, 0);
}

}  // namespace strata
