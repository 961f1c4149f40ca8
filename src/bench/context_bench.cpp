#include "bench/context_bench.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "bench/metrics.h"
#include "core/error.h"
#include "core/op_profile.h"
#include "core/thread_pool.h"
#include "engine/paged_kv_cache.h"
#include "model/blocks/split_kv.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/workspace.h"

namespace strata::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Synthetic cached rows for positions [0, n) of slot 0 in every layer.
void fill_cache(PagedKVCache& kv, const ModelConfig& c, int32_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t keys = c.kv_key_floats(), values = c.kv_value_floats();
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    const KVLayerView view = kv.layer(layer);
    const std::vector<int32_t>& table = view.table(0, n);
    for (int32_t p = 0; p < n; ++p) {
      float* row = view.row(table, p);
      for (int64_t i = 0; i < keys; ++i) row[i] = normal(rng);
      for (int64_t i = 0; i < values; ++i) row[view.value_offset + i] = normal(rng);
    }
  }
}

}  // namespace

std::vector<ContextBenchRow> run_context_bench(const Model& model, const ContextBenchOptions& o) {
  const ModelConfig& c = model.config();
  if (o.contexts.empty() || o.steps < 1 || o.rounds < 1 || o.block_size < 1) {
    fail("bench context: needs context lengths and positive --steps, --rounds and --block-size");
  }
  const int32_t longest = *std::max_element(o.contexts.begin(), o.contexts.end());
  if (*std::min_element(o.contexts.begin(), o.contexts.end()) < 1 || longest >= c.max_context_length()) {
    fail("bench context: context lengths must be in [1, {}) for this model", c.max_context_length());
  }
  const int32_t n_blocks = (longest + 1 + o.block_size - 1) / o.block_size;
  PagedKVCache kv(c, n_blocks, o.block_size);
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  std::iota(table.begin(), table.end(), 0);
  kv.bind(0, &table);
  const auto fill_start = Clock::now();
  fill_cache(kv, c, longest);
  const double kv_per_token = double(kv_bytes_per_token(c));
  fmt::print("{} layers, {} threads; KV {:.0f} bytes per token (f32, all layers; {} floats per layer); "
             "the cache holds synthetic rows for positions [0, N) (filled in {:.1f} s), and each step is the real "
             "forward pass of one token at position N\n",
             c.num_hidden_layers, ThreadPool::global().size(), kv_per_token, c.kv_key_floats() + c.kv_value_floats(),
             seconds_since(fill_start));
  fmt::print("{:>7} {:>11} {:>11} {:>9} {:>9} {:>8} {:>10} {:>11} {:>12} {:>9}\n", "context", "KV MB read",
             "forward ms", "LM ms", "step ms", "tok/s", "attention", "MB read", "unsplit ms", "unsplit/");
  fmt::print("{:>7} {:>11} {:>11} {:>9} {:>9} {:>8} {:>10} {:>11} {:>12} {:>9}\n", "", "per step", "(layers)",
             "head", "", "", "share", "per step", "forward", "split");

  SplitKvSettings& split = split_kv_settings();
  const SplitKvSettings saved = split;
  Workspace ws;
  std::vector<float> hidden(size_t(c.hidden_size)), logits(size_t(c.vocab_size));
  const int32_t token = int32_t(std::min<int64_t>(1000, c.vocab_size - 1)), slot = 0;
  std::vector<ContextBenchRow> rows;
  for (const int32_t n : o.contexts) {
    // Each step decodes position n again (rewriting its row), so every step reads n + 1 positions.
    int32_t position = n;
    const BatchRows batch{1, &position, &slot, nullptr, &ws};
    auto forward = [&] {
      const auto start = Clock::now();
      model.embed(&token, 1, hidden.data());
      model.forward(batch, 0, c.num_hidden_layers, hidden.data(), kv);
      return seconds_since(start);
    };
    std::vector<double> split_s, unsplit_s, head_s;
    double profiled = 0;
    op_profile::reset();
    for (int round = 0; round < o.rounds; ++round) {
      for (const bool on : {true, false}) {
        split.enabled = on;
        forward();  // warm-up after the switch
        op_profile::enable(on);
        for (int s = 0; s < o.steps; ++s) {
          const double t = forward();
          (on ? split_s : unsplit_s).push_back(t);
          if (on) profiled += t;
        }
        op_profile::enable(false);
      }
      for (int s = 0; s < o.steps; ++s) {
        const auto start = Clock::now();
        model.logits(hidden.data(), 1, logits.data());
        head_s.push_back(seconds_since(start));
      }
    }
    split = saved;
    const OpTotals totals = op_profile::totals();
    double bytes = 0;
    for (const OpTotal& op : totals) bytes += op.bytes;
    const double profiled_steps = double(o.rounds * o.steps);

    ContextBenchRow r;
    r.context = n;
    r.forward_ms = percentile(split_s, 50) * 1e3;
    r.unsplit_forward_ms = percentile(unsplit_s, 50) * 1e3;
    r.lm_head_ms = percentile(head_s, 50) * 1e3;
    r.attention_share = totals[size_t(Op::Attention)].seconds / profiled;
    r.kv_bytes_read = double(n + 1) * kv_per_token;
    r.bytes_read = bytes / profiled_steps;
    rows.push_back(r);
    const double step_ms = r.forward_ms + r.lm_head_ms;
    fmt::print("{:>7} {:>11.1f} {:>11.2f} {:>9.2f} {:>9.2f} {:>8.2f} {:>9.1f}% {:>11.1f} {:>12.2f} {:>9.2f}\n", n,
               r.kv_bytes_read / 1e6, r.forward_ms, r.lm_head_ms, step_ms, 1e3 / step_ms, 100 * r.attention_share,
               r.bytes_read / 1e6, r.unsplit_forward_ms, r.unsplit_forward_ms / r.forward_ms);
    std::fflush(stdout);
  }
  return rows;
}

}  // namespace strata::bench
