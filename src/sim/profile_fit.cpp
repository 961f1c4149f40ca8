#include "sim/profile_fit.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"

namespace strata::sim {

namespace {

// The fit's unknowns: inverse rates (seconds per FLOP or byte) and overheads.
enum Param { MatmulFlop, AttentionFlop, ExpertFlop, WeightByte, ExpertByte, Layer, Logits, Step, kNumParams };
using Vec = std::array<double, kNumParams>;
constexpr const char* kParamNames[kNumParams] = {"matmul FLOP rate", "attention FLOP rate", "expert FLOP rate",
                                                 "weight bandwidth", "expert bandwidth",  "layer overhead",
                                                 "logits overhead",  "step overhead"};

Vec to_vec(const FittedRates& r) {
  return {1 / r.matmul_flops, 1 / r.attention_flops, 1 / r.expert_flops, 1 / r.weight_bandwidth,
          1 / r.expert_bandwidth, r.layer_overhead, r.logits_overhead, r.step_overhead};
}

FittedRates to_rates(const Vec& v, double overlap) {
  return {1 / v[MatmulFlop], 1 / v[AttentionFlop], 1 / v[ExpertFlop], 1 / v[WeightByte], 1 / v[ExpertByte],
          v[Layer],          v[Logits],            v[Step],          overlap};
}

Param flop_param(OpKind k) { return k == OpKind::Matmul ? MatmulFlop : k == OpKind::Attention ? AttentionFlop : ExpertFlop; }
Param byte_param(OpKind k) { return k == OpKind::Expert ? ExpertByte : WeightByte; }

// The step's seconds are features . theta once the binding sides are fixed;
// `sides` gets one bit per operation (compute binds).
Vec features(const StepWork& w, const Vec& theta, double overlap, std::vector<bool>& sides) {
  Vec x{};
  for (const Operation& op : w.ops) {
    const bool compute = op.flops * theta[flop_param(op.kind)] >= op.bytes * theta[byte_param(op.kind)];
    sides.push_back(compute);
    x[flop_param(op.kind)] += op.count * op.flops * (compute ? 1 : 1 - overlap);
    x[byte_param(op.kind)] += op.count * op.bytes * (compute ? 1 - overlap : 1);
  }
  x[Layer] = w.layers, x[Logits] = w.logits_rows, x[Step] = w.steps;
  return x;
}

// Solves the normal equations of columns `set` of a (least squares); other
// entries of the result are 0.
Vec solve_on(const std::vector<Vec>& a, const std::vector<double>& b, const std::vector<int>& set) {
  const size_t n = set.size();
  std::vector<std::vector<double>> m(n, std::vector<double>(n + 1, 0));
  for (size_t r = 0; r < a.size(); ++r) {
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) m[i][j] += a[r][size_t(set[i])] * a[r][size_t(set[j])];
      m[i][n] += a[r][size_t(set[i])] * b[r];
    }
  }
  // Gaussian elimination with partial pivoting; a (near-)singular column is
  // left at 0 rather than blown up.
  std::vector<double> x(n, 0);
  std::vector<bool> dead(n, false);
  for (size_t c = 0; c < n; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::abs(m[r][c]) > std::abs(m[pivot][c])) pivot = r;
    std::swap(m[c], m[pivot]);
    if (std::abs(m[c][c]) < 1e-12) {
      dead[c] = true;
      continue;
    }
    for (size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = m[r][c] / m[c][c];
      for (size_t k = c; k <= n; ++k) m[r][k] -= f * m[c][k];
    }
  }
  Vec out{};
  for (size_t c = 0; c < n; ++c) out[size_t(set[c])] = dead[c] ? 0 : m[c][n] / m[c][c];
  return out;
}

// min |a x - b| subject to x >= 0 (Lawson and Hanson), over the columns in `use`.
Vec nnls(const std::vector<Vec>& a, const std::vector<double>& b, const std::vector<bool>& use) {
  Vec x{};
  std::vector<bool> passive(kNumParams, false);
  for (int outer = 0; outer < 3 * kNumParams; ++outer) {
    Vec grad{};  // a^T (b - a x)
    for (size_t r = 0; r < a.size(); ++r) {
      double residual = b[r];
      for (int j = 0; j < kNumParams; ++j) residual -= a[r][size_t(j)] * x[size_t(j)];
      for (int j = 0; j < kNumParams; ++j) grad[size_t(j)] += a[r][size_t(j)] * residual;
    }
    int best = -1;
    for (int j = 0; j < kNumParams; ++j)
      if (use[size_t(j)] && !passive[size_t(j)] && grad[size_t(j)] > 1e-10 && (best < 0 || grad[size_t(j)] > grad[size_t(best)]))
        best = j;
    if (best < 0) break;
    passive[size_t(best)] = true;
    for (int inner = 0; inner < 3 * kNumParams; ++inner) {
      std::vector<int> set;
      for (int j = 0; j < kNumParams; ++j)
        if (passive[size_t(j)]) set.push_back(j);
      const Vec z = solve_on(a, b, set);
      bool feasible = true;
      for (int j : set) feasible = feasible && z[size_t(j)] > 0;
      if (feasible) {
        x = z;
        break;
      }
      // Step from x towards z until the first coordinate hits 0; drop it.
      double alpha = 1;
      for (int j : set)
        if (z[size_t(j)] <= 0) alpha = std::min(alpha, x[size_t(j)] / (x[size_t(j)] - z[size_t(j)]));
      for (int j : set) {
        x[size_t(j)] += alpha * (z[size_t(j)] - x[size_t(j)]);
        if (x[size_t(j)] <= 1e-15) x[size_t(j)] = 0, passive[size_t(j)] = false;
      }
    }
  }
  return x;
}

std::pair<double, double> relative_errors(const std::vector<StepSample>& samples, const FittedRates& rates) {
  double sum = 0, worst = 0;
  for (const StepSample& s : samples) {
    const double e = predicted_seconds(s.work, rates) / s.seconds - 1;
    sum += e * e;
    worst = std::max(worst, std::abs(e));
  }
  return {std::sqrt(sum / double(samples.size())), worst};
}

}  // namespace

HardwareProfile FittedRates::profile(const std::string& name, double stream_bandwidth, double memory_bytes) const {
  HardwareProfile p;
  p.name = name;
  p.peak_flops = std::max({matmul_flops, attention_flops, expert_flops});
  p.matmul_efficiency = matmul_flops / p.peak_flops;
  p.attention_efficiency = attention_flops / p.peak_flops;
  p.expert_efficiency = expert_flops / p.peak_flops;
  p.memory_bandwidth = std::max({stream_bandwidth, weight_bandwidth, expert_bandwidth});
  p.bandwidth_efficiency = weight_bandwidth / p.memory_bandwidth;
  p.expert_bandwidth_efficiency = expert_bandwidth / p.memory_bandwidth;
  p.layer_overhead = layer_overhead;
  p.logits_overhead = logits_overhead;
  p.step_overhead = step_overhead;
  p.roofline_overlap = overlap;
  p.memory_bytes = memory_bytes;
  return p;
}

double predicted_seconds(const StepWork& work, const FittedRates& rates) {
  return work_seconds(work, rates.profile("fit", 0, 1), 1);
}

namespace {

ProfileFit fit_with_overlap(const std::vector<StepSample>& samples, const FittedRates& start, double overlap) {
  const Vec initial = to_vec(start);
  Vec theta = initial;
  ProfileFit best;
  std::vector<bool> previous_sides;
  for (int iteration = 1; iteration <= 50; ++iteration) {
    std::vector<Vec> a;
    std::vector<double> b;
    std::vector<bool> sides;
    for (const StepSample& s : samples) {
      Vec x = features(s.work, theta, overlap, sides);
      for (double& v : x) v /= s.seconds;  // relative error: rows scaled so the target is 1
      a.push_back(x);
      b.push_back(1);
    }
    // Columns scaled to unit norm (FLOPs and steps differ by 1e12); a
    // column no sample touches keeps its start value.
    Vec scale{};
    std::vector<bool> use(kNumParams);
    std::vector<std::string> unconstrained;
    for (int j = 0; j < kNumParams; ++j) {
      double norm = 0;
      for (const Vec& row : a) norm += row[size_t(j)] * row[size_t(j)];
      scale[size_t(j)] = norm > 0 ? std::sqrt(norm) : 1;
      use[size_t(j)] = norm > 0;
      if (!use[size_t(j)]) unconstrained.push_back(kParamNames[j]);
    }
    for (Vec& row : a)
      for (int j = 0; j < kNumParams; ++j) row[size_t(j)] /= scale[size_t(j)];
    const Vec solution = nnls(a, b, use);
    for (int j = 0; j < kNumParams; ++j) {
      if (!use[size_t(j)]) continue;
      theta[size_t(j)] = solution[size_t(j)] / scale[size_t(j)];
      if (j < Layer) theta[size_t(j)] = std::max(theta[size_t(j)], initial[size_t(j)] * 1e-6);
    }
    const FittedRates rates = to_rates(theta, overlap);
    const auto [rms, worst] = relative_errors(samples, rates);
    if (iteration == 1 || rms < best.rms_relative_error) best = {rates, rms, worst, iteration, unconstrained};
    if (sides == previous_sides) break;
    previous_sides = std::move(sides);
  }
  return best;
}

}  // namespace

ProfileFit fit_rates(const std::vector<StepSample>& samples, const FittedRates& start) {
  if (samples.empty()) fail("calibration fit: no step timings");
  for (const StepSample& s : samples)
    if (!(s.seconds > 0) || !std::isfinite(s.seconds)) fail("calibration fit: step time {} is not positive", s.seconds);
  for (double v : to_vec(start))
    if (!(v >= 0) || !std::isfinite(v)) fail("calibration fit: start rates must be positive and overheads >= 0");
  ProfileFit best;
  for (double overlap : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    ProfileFit fit = fit_with_overlap(samples, start, overlap);
    if (overlap == 0 || fit.rms_relative_error < best.rms_relative_error) best = std::move(fit);
  }
  return best;
}

}  // namespace strata::sim
