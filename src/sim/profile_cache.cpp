#include "sim/profile_cache.h"

#include <fmt/core.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string_view>
#include <nlohmann/json.hpp>

#include "core/cache_dir.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/solution_registry.h"
#include "sim/calibrate.h"

namespace strata::sim {

namespace {

namespace fs = std::filesystem;

// What the step times depend on besides the machine: the model file, the
// thread count, the kernels selected (numeric paths and ISA cap), and the
// executable that holds them (a rebuilt or upgraded strata has other
// kernels: a profile fitted on the old ones would size steps wrongly).
fs::path cached_profile_path(const std::string& model_path) {
  const fs::path model = fs::weakly_canonical(model_path);
  const fs::path stamp_file = fs::is_directory(model) ? model / "config.json" : model;
  std::error_code ec;
  const auto stamp = fs::last_write_time(stamp_file, ec).time_since_epoch().count();
  const auto build = fs::last_write_time("/proc/self/exe", ec).time_since_epoch().count();
  std::string kernels;
  for (std::string_view definition : kernel_definitions()) kernels += fmt::format("{},", select(definition).name);
  const size_t key = std::hash<std::string>{}(
      fmt::format("{}|{}|{}|{}|{}", model.string(), stamp, ThreadPool::global().size(), build, kernels));
  return cache_dir("cost-profiles") / fmt::format("{}-{:016x}.json", model.filename().string(), key);
}

HardwareProfile fit_and_keep(const Model& model, const SimModel& sim_model, const fs::path& path) {
  fmt::print(stderr, "strata: timing steps of the model to fit its cost model (once per model) ...\n");
  const Calibration c = calibrate_cpu(model, sim_model, {.repeats = 2});
  fmt::print(stderr, "strata: cost model fitted over {} steps, rms error {:.1f}%; kept in {}\n", c.steps.size(),
             100 * c.fit.rms_relative_error, path.string());
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path);
  out << c.profile.to_json().dump(2) << "\n";
  if (!out) fmt::print(stderr, "strata: could not write {} (the fit is used, not kept)\n", path.string());
  return c.profile;
}

}  // namespace

HardwareProfile cached_or_fitted_profile(const Model& model, const SimModel& sim_model, const std::string& model_path,
                                         bool refit) {
  const fs::path path = cached_profile_path(model_path);
  if (refit || !fs::exists(path)) return fit_and_keep(model, sim_model, path);
  try {
    HardwareProfile profile = resolve_hardware(path.string());
    fmt::print(stderr, "strata: cost model from {}\n", path.string());
    return profile;
  } catch (const Error& e) {
    fmt::print(stderr, "strata: ignoring a kept cost model: {}\n", e.what());
    return fit_and_keep(model, sim_model, path);
  }
}

}  // namespace strata::sim
