#include "sim/calibrate.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "model/model.h"

namespace strata::sim {

namespace {

double stream_read_rate(double bytes, int passes) {
  std::vector<float> buffer(size_t(bytes / sizeof(float)), 1.0f);
  ThreadPool& pool = ThreadPool::global();
  std::vector<double> sums(size_t(pool.size()) + 1, 0);
  double best = 1e30;
  for (int p = 0; p < passes; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t n = int64_t(buffer.size());
    const int64_t slices = pool.size();
    pool.parallel_for(slices, [&](int64_t begin, int64_t end) {
      for (int64_t s = begin; s < end; ++s) {
        float acc[16] = {};
        for (int64_t i = n * s / slices; i + 16 <= n * (s + 1) / slices; i += 16) {
          for (int k = 0; k < 16; ++k) acc[k] += buffer[size_t(i + k)];
        }
        double total = 0;
        for (float a : acc) total += a;
        sums[size_t(s)] = total;  // keeps the loads from being optimized away
      }
    });
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return double(buffer.size() * sizeof(float)) / best;
}

int64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * page : int64_t(16) << 30;
}

}  // namespace

Calibration calibrate_cpu(const Model& model, const SimModel& sim_model, const CalibrationOptions& options,
                          const std::function<void(const std::string&)>& progress) {
  if (options.repeats < 1) fail("calibration: repeats must be at least 1 (got {})", options.repeats);
  if (sim_model.num_layers != model.config().num_hidden_layers || sim_model.hidden != model.config().hidden_size)
    fail("calibration: {} does not describe the loaded model", sim_model.name);
  Calibration c;
  c.stream_bytes_per_second = stream_read_rate(options.stream_bytes, 3);
  c.steps = time_probes(model, calibration_probes(int32_t(sim_model.num_layers)), options.repeats, progress);

  // Where the fit starts: rates of the right order for a CPU core pair; the
  // fit moves every one the probes constrain.
  FittedRates start;
  start.matmul_flops = start.attention_flops = start.expert_flops = 50e9;
  start.weight_bandwidth = start.expert_bandwidth = c.stream_bytes_per_second;
  start.layer_overhead = 1e-4, start.logits_overhead = 1e-4, start.step_overhead = 1e-3;
  CostModel cost_model(sim_model, start.profile("start", c.stream_bytes_per_second, 1), 1, {0, options.router_seed});
  std::vector<StepSample> samples;
  for (const TimedStep& step : c.steps) {
    StepCost totals;
    samples.push_back({cost_model.work(step.plan, &totals), step.seconds});
    c.simulated_experts.push_back(totals.experts_touched);
  }
  c.fit = fit_rates(samples, start);
  for (const StepSample& s : samples) c.predicted_seconds.push_back(predicted_seconds(s.work, c.fit.rates));
  c.profile = c.fit.rates.profile("cpu", c.stream_bytes_per_second, double(physical_memory_bytes()));
  c.profile.validate("calibration");
  return c;
}

}  // namespace strata::sim
