#include "sim/step_estimate.h"

#include <filesystem>
#include <memory>

#include "model/model.h"

#include "sim/cost_model.h"

namespace strata::sim {

SimModel sim_model_of(const Model& model, const std::string& model_path) {
  if (std::filesystem::is_directory(model_path)) return sim_model_from_folder(model_path);
  return sim_model_from_config(model.config(), std::filesystem::path(model_path).filename().string());
}

StepSecondsEstimate step_seconds_estimate(const SimModel& model, const HardwareProfile& hardware,
                                          int32_t tensor_parallel, double router_skew) {
  auto cost = std::make_shared<CostModel>(model, hardware, tensor_parallel,
                                          RouterOptions{router_skew, 0, /*expected=*/true});
  return [cost](const StepPlan& plan) { return cost->step(plan).seconds; };
}

}  // namespace strata::sim
