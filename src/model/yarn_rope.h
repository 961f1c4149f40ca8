#pragma once
// RoPE frequencies for DeepSeek-V2/V3 attention: the plain base^(-2i/d)
// table, or DeepSeek's YaRN (HF DeepseekV3YarnRotaryEmbedding, vLLM
// deepseek_yarn): pairs below the correction range keep their frequency,
// pairs above it are divided by `factor`, a linear ramp in between; cos/sin
// are multiplied by g(s, mscale) / g(s, mscale_all_dim) and the softmax scale
// by g(s, mscale_all_dim)^2, where g(s, m) = 1 + 0.1 m ln s. The rotation is
// the interleaved (GPT-J) one: pairs (2i, 2i + 1).
#include <cstdint>
#include <vector>

namespace strata {

// HF config.json rope_scaling {type: yarn, ...}; `enabled` false means none.
struct YarnScaling {
  bool enabled = false;
  double factor = 1.0;
  int64_t original_max_position = 0;
  // The HF defaults. llama.cpp's deepseek2 ignores the stored values and
  // always uses 32/1; strata uses what the config says.
  double beta_fast = 32.0, beta_slow = 1.0;
  double mscale = 1.0, mscale_all_dim = 0.0;
};

// g(s, m): 1 + 0.1 m ln s for s > 1, else 1.
double yarn_mscale(double factor, double m);

// Pair indices where the ramp starts and ends: floor / ceil of the dims whose
// wavelength completes beta_fast / beta_slow turns over the original context,
// clamped to [0, rotary_dim - 1].
struct YarnRange {
  double low, high;
};
YarnRange yarn_correction_range(int64_t rotary_dim, double base, const YarnScaling& s);

// What RoPE needs for one model: rotary_dim / 2 inverse frequencies and the
// cos/sin multiplier.
struct RopeTable {
  std::vector<float> inv_freq;
  float cos_sin_scale = 1.0f;
};
RopeTable rope_table(int64_t rotary_dim, double base, const YarnScaling& s);

// Multiplier of the attention softmax scale (1 without YaRN or mscale_all_dim).
double yarn_softmax_scale_factor(const YarnScaling& s);

// Rotates, for each row r and head h, the pairs (2i, 2i + 1) of the
// 2 * inv_freq.size() floats at x + r * row_stride + h * head_stride by the
// angle positions[r] * inv_freq[i].
void rope_interleaved(float* x, int64_t n_rows, int64_t row_stride, int64_t n_heads, int64_t head_stride,
                      const int32_t* positions, const RopeTable& table);

}  // namespace strata
