#include "model/yarn_rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace strata {

double yarn_mscale(double factor, double m) { return factor <= 1.0 ? 1.0 : 0.1 * m * std::log(factor) + 1.0; }

YarnRange yarn_correction_range(int64_t rotary_dim, double base, const YarnScaling& s) {
  // The dim whose wavelength turns `rotations` times over the original context.
  auto dim_of = [&](double rotations) {
    return double(rotary_dim) * std::log(double(s.original_max_position) / (rotations * 2.0 * std::numbers::pi)) /
           (2.0 * std::log(base));
  };
  const double low = std::max(std::floor(dim_of(s.beta_fast)), 0.0);
  const double high = std::min(std::ceil(dim_of(s.beta_slow)), double(rotary_dim - 1));
  return {low, high};
}

RopeTable rope_table(int64_t rotary_dim, double base, const YarnScaling& s) {
  RopeTable t;
  const int64_t pairs = rotary_dim / 2;
  t.inv_freq.resize(size_t(pairs));
  const YarnRange r = s.enabled ? yarn_correction_range(rotary_dim, base, s) : YarnRange{0, 0};
  const double span = std::max(r.high - r.low, 0.001);
  for (int64_t i = 0; i < pairs; ++i) {
    const double original = std::pow(base, -2.0 * double(i) / double(rotary_dim));
    if (!s.enabled) {
      t.inv_freq[size_t(i)] = float(original);
      continue;
    }
    // keep: 1 below the range (original frequency), 0 above it (interpolated).
    const double keep = 1.0 - std::clamp((double(i) - r.low) / span, 0.0, 1.0);
    t.inv_freq[size_t(i)] = float(original / s.factor * (1.0 - keep) + original * keep);
  }
  if (s.enabled) t.cos_sin_scale = float(yarn_mscale(s.factor, s.mscale) / yarn_mscale(s.factor, s.mscale_all_dim));
  return t;
}

double yarn_softmax_scale_factor(const YarnScaling& s) {
  if (!s.enabled || s.mscale_all_dim == 0.0) return 1.0;
  const double g = yarn_mscale(s.factor, s.mscale_all_dim);
  return g * g;
}

void rope_interleaved(float* x, int64_t n_rows, int64_t row_stride, int64_t n_heads, int64_t head_stride,
                      const int32_t* positions, const RopeTable& table) {
  const size_t pairs = table.inv_freq.size();
  std::vector<float> cos_t(pairs), sin_t(pairs);
  for (int64_t r = 0; r < n_rows; ++r) {
    for (size_t i = 0; i < pairs; ++i) {
      const float angle = float(positions[r]) * table.inv_freq[i];
      cos_t[i] = std::cos(angle) * table.cos_sin_scale;
      sin_t[i] = std::sin(angle) * table.cos_sin_scale;
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + r * row_stride + h * head_stride;
      for (size_t i = 0; i < pairs; ++i) {
        const float a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * cos_t[i] - b * sin_t[i];
        v[2 * i + 1] = a * sin_t[i] + b * cos_t[i];
      }
    }
  }
}

}  // namespace strata
