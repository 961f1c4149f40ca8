// The shared model blocks against naive references written here in double
// precision, on parameter combinations no shipped architecture uses yet
// (those are covered end to end by the llama.cpp oracles): a MoE layer with
// sigmoid scores, a selection bias, expert groups, routed scaling and a
// shared expert; GQA attention with whole-projection q/k norms, GPT-J RoPE
// on part of the head, and two sequences batched over scattered KV blocks;
// split-KV decode against the unsplit one.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/int4_matrix.h"
#include "kernels/ops.h"
#include "model/batch_rows.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/paged_kv_cache.h"
#include "model/blocks/attention_block.h"
#include "model/blocks/moe_block.h"
#include "model/blocks/split_kv.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/workspace.h"
#include "random_matrix.h"

namespace strata {
namespace {

std::vector<double> times(const Matrix& m, const std::vector<double>& x) {
  std::vector<double> y(size_t(m.view.rows), 0.0);
  for (int64_t r = 0; r < m.view.rows; ++r)
    for (int64_t c = 0; c < m.view.cols; ++c) y[size_t(r)] += m.at(r, c) * x[size_t(c)];
  return y;
}

double silu(double a) { return a / (1 + std::exp(-a)); }

std::vector<double> swiglu(const Matrix& gate, const Matrix& up, const Matrix& down, const std::vector<double>& x) {
  std::vector<double> g = times(gate, x), u = times(up, x);
  for (size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
  return times(down, g);
}

TEST(MoeBlock, SigmoidGroupedBiasedScaledWithSharedExpert) {
  std::mt19937 rng(1);
  constexpr int64_t H = 48, E = 8, F = 32, K = 3, N = 5;
  const MoeSpec spec{{RouterScoring::Sigmoid, true, true, 2.5f, E, K, /*n_group*/ 4, /*topk_group*/ 2}, F, 2 * F};
  Matrix router(E, H, rng, 0.3f);
  std::vector<Matrix> mats;
  mats.reserve(3 * E + 3);
  MoeWeights w;
  w.router = router.view;
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (int64_t e = 0; e < E; ++e) w.correction_bias.push_back(normal(rng));
  for (int64_t e = 0; e < E; ++e) {
    mats.emplace_back(F, H, rng, 0.2f);
    mats.emplace_back(F, H, rng, 0.2f);
    mats.emplace_back(H, F, rng, 0.2f);
    w.experts.push_back({mats[size_t(3 * e)].view, mats[size_t(3 * e + 1)].view, mats[size_t(3 * e + 2)].view});
  }
  mats.emplace_back(2 * F, H, rng, 0.2f);
  mats.emplace_back(2 * F, H, rng, 0.2f);
  mats.emplace_back(H, 2 * F, rng, 0.2f);
  w.shared = {mats[size_t(3 * E)].view, mats[size_t(3 * E + 1)].view, mats[size_t(3 * E + 2)].view};

  std::vector<float> x(size_t(N * H)), out(size_t(N * H));
  for (float& v : x) v = normal(rng) * 3;
  Workspace ws;
  moe_block(spec, w, x.data(), N, H, out.data(), ws, nullptr);

  for (int64_t t = 0; t < N; ++t) {
    std::vector<double> xt(x.begin() + t * H, x.begin() + (t + 1) * H);
    const std::vector<double> logits = times(router, xt);
    std::vector<double> score(E), select(E);
    for (int64_t e = 0; e < E; ++e) {
      score[size_t(e)] = 1 / (1 + std::exp(-logits[size_t(e)]));
      select[size_t(e)] = score[size_t(e)] + w.correction_bias[size_t(e)];
    }
    // Groups of 2: keep the 2 groups with the largest sum of their 2 scores.
    std::vector<std::pair<double, int>> groups;
    for (int g = 0; g < 4; ++g) groups.push_back({select[size_t(2 * g)] + select[size_t(2 * g + 1)], g});
    std::sort(groups.begin(), groups.end(), [](auto a, auto b) { return a.first > b.first; });
    for (int i = 2; i < 4; ++i) select[size_t(2 * groups[size_t(i)].second)] = select[size_t(2 * groups[size_t(i)].second + 1)] = -1e9;
    std::vector<int> order(E);
    for (int e = 0; e < E; ++e) order[size_t(e)] = e;
    std::sort(order.begin(), order.end(), [&](int a, int b) { return select[size_t(a)] > select[size_t(b)]; });
    double sum = 0;
    for (int j = 0; j < K; ++j) sum += score[size_t(order[size_t(j)])];
    std::vector<double> want = swiglu(mats[size_t(3 * E)], mats[size_t(3 * E + 1)], mats[size_t(3 * E + 2)], xt);
    for (int j = 0; j < K; ++j) {
      const int e = order[size_t(j)];
      const std::vector<double> y = swiglu(mats[size_t(3 * e)], mats[size_t(3 * e + 1)], mats[size_t(3 * e + 2)], xt);
      for (int64_t c = 0; c < H; ++c) want[size_t(c)] += 2.5 * score[size_t(e)] / sum * y[size_t(c)];
    }
    for (int64_t c = 0; c < H; ++c) ASSERT_NEAR(out[size_t(t * H + c)], want[size_t(c)], 1e-4) << "token " << t << " dim " << c;
  }
}

// Dynamic slices cover [0, n) once each, in slices of the grain (the last
// one shorter), whatever thread takes them.
TEST(ThreadPool, DynamicSlicesCoverTheRangeOnce) {
  ThreadPool pool(3);
  for (const auto& [n, grain] : {std::pair<int64_t, int64_t>{103, 10}, {5, 10}, {40, 1}, {0, 4}, {7, 0}}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    std::atomic<int> calls{0}, bad{0};
    pool.parallel_for_dynamic(n, grain, [&](int64_t b, int64_t e) {
      ++calls;
      if (b >= e || (e - b > std::max<int64_t>(1, grain))) ++bad;
      for (int64_t i = b; i < e; ++i) ++seen[size_t(i)];
    });
    EXPECT_EQ(bad.load(), 0) << n << " " << grain;
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[size_t(i)].load(), 1) << "n " << n << " index " << i;
    const int64_t g = std::max<int64_t>(1, grain);
    EXPECT_EQ(calls.load(), n <= g ? (n > 0 ? 1 : 0) : (n + g - 1) / g) << n << " " << grain;
  }
}

// INT4 experts: on the w4a8 path the layer quantizes its input once and
// gathers int8 rows per expert. Each token's output is the sum of its routes'
// expert outputs, each computed on the token's own f32 row (which the
// expert quantizes itself), weighted by the router.
TEST(MoeBlock, Int4ExpertsTakeTheirTokensRowsQuantizedOnce) {
  std::mt19937 rng(3);
  constexpr int64_t H = 96, E = 6, F = 64, K = 2, N = 23;
  const MoeSpec spec{{RouterScoring::Softmax, false, true, 1.0f, E, K, 1, 1}, F, 0};
  Matrix router(E, H, rng, 0.3f);
  MoeWeights w;
  w.router = router.view;
  std::vector<std::unique_ptr<Int4Matrix>> mats;
  auto int4 = [&](int64_t rows, int64_t cols) {
    auto m = std::make_unique<Int4Matrix>(rows, cols, Int4ScaleType::BF16);
    std::uniform_int_distribution<int> q(-8, 7);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) m->set(r, c, q(rng));
      for (int64_t g = 0; g < cols / 32; ++g) m->set_scale_bits(r, g, f32_to_bf16(0.01f + 0.001f * float((r + g) % 7)));
    }
    mats.push_back(std::move(m));
    return WeightMatrix::of(*mats.back());
  };
  for (int64_t e = 0; e < E; ++e) w.experts.push_back({int4(F, H), int4(F, H), int4(H, F)});
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(size_t(N * H)), out(size_t(N * H));
  for (float& v : x) v = normal(rng);
  Workspace ws;
  moe_block(spec, w, x.data(), N, H, out.data(), ws, nullptr);

  for (int64_t t = 0; t < N; ++t) {
    const float* xt = &x[size_t(t * H)];
    std::vector<float> logits(E);
    matmul(xt, 1, router.view, logits.data());
    std::vector<int32_t> ids(K);
    std::vector<float> weights(K);
    topk_router(logits.data(), E, K, RouterParams{false, true, 1.0f, 1, 1, nullptr}, ids.data(), weights.data());
    std::vector<double> want(H, 0.0);
    for (int64_t j = 0; j < K; ++j) {
      const MlpWeights& m = w.experts[size_t(ids[size_t(j)])];
      std::vector<float> gate(F), up(F), y(H);
      matmul(xt, 1, m.gate, gate.data());
      matmul(xt, 1, m.up, up.data());
      silu_mul(gate.data(), up.data(), gate.data(), F);
      matmul(gate.data(), 1, m.down, y.data());
      for (int64_t c = 0; c < H; ++c) want[size_t(c)] += double(weights[size_t(j)]) * y[size_t(c)];
    }
    for (int64_t c = 0; c < H; ++c)
      ASSERT_NEAR(out[size_t(t * H + c)], want[size_t(c)], 1e-5 * (1 + std::fabs(want[size_t(c)]))) << "token " << t << " dim " << c;
  }
}

TEST(AttentionBlock, WholeQkNormGptjPartialRopeTwoSequencesPaged) {
  std::mt19937 rng(2);
  constexpr int64_t H = 32, NQ = 4, NKV = 2, HD = 16, ROT = 6;
  const AttentionSpec spec{NQ, NKV, HD, ROT, /*interleaved*/ true, QkNorm::Full, 10000.0f, 1e-6f};
  Matrix q(NQ * HD, H, rng, 0.3f), k(NKV * HD, H, rng, 0.3f), v(NKV * HD, H, rng, 0.3f), o(H, NQ * HD, rng, 0.3f);
  AttentionWeights w{q.view, k.view, v.view, o.view, {}, {}};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t i = 0; i < NQ * HD; ++i) w.q_norm.push_back(1 + 0.1f * normal(rng));
  for (int64_t i = 0; i < NKV * HD; ++i) w.k_norm.push_back(1 + 0.1f * normal(rng));

  ModelConfig c;
  c.num_hidden_layers = 1;
  c.num_key_value_heads = NKV;
  c.head_dim = HD;
  // Blocks of 2 positions in scattered order: sequence 0's positions 0-3 in
  // blocks 3 then 0, sequence 1's in block 1.
  PagedKVCache kv(c, 4, 2);
  const std::vector<int32_t> table0 = {3, 0}, table1 = {1};
  kv.bind(0, &table0);
  kv.bind(1, &table1);
  // Sequence 0 has 3 tokens, sequence 1 has 2: rows interleave in one batch
  // after a first step that wrote positions 0-1 of sequence 0.
  const std::vector<std::vector<float>> tokens = [&] {
    std::vector<std::vector<float>> t(5, std::vector<float>(H));
    for (auto& row : t)
      for (float& x : row) x = normal(rng);
    return t;
  }();
  Workspace ws;
  std::vector<float> out_first(size_t(2 * H)), out(size_t(3 * H));
  {
    std::vector<float> x;
    for (int i = 0; i < 2; ++i) x.insert(x.end(), tokens[size_t(i)].begin(), tokens[size_t(i)].end());
    const int32_t pos[] = {0, 1}, slots[] = {0, 0};
    attention_block(spec, w, BatchRows{2, pos, slots}, x.data(), out_first.data(), kv.layer(0), ws);
  }
  std::vector<float> x;
  for (int i : {2, 3, 4}) x.insert(x.end(), tokens[size_t(i)].begin(), tokens[size_t(i)].end());
  const int32_t pos[] = {2, 0, 1}, slots[] = {0, 1, 1};
  attention_block(spec, w, BatchRows{3, pos, slots}, x.data(), out.data(), kv.layer(0), ws);

  // The reference: per sequence, every position's q/k/v from scratch.
  auto project = [&](const std::vector<float>& row, const Matrix& m, const std::vector<float>& norm, int64_t heads,
                     int32_t p) {
    std::vector<double> y = times(m, std::vector<double>(row.begin(), row.end()));
    double ms = 0;
    for (double a : y) ms += a * a;
    const double inv = 1 / std::sqrt(ms / double(y.size()) + 1e-6);
    for (size_t i = 0; i < y.size(); ++i) y[i] *= inv * (norm.empty() ? 1.0 : norm[i]);
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < ROT / 2; ++i) {
        const double angle = p * std::pow(10000.0, -2.0 * double(i) / ROT);
        double& a = y[size_t(h * HD + 2 * i)];
        double& b = y[size_t(h * HD + 2 * i + 1)];
        const double a0 = a, b0 = b;
        a = a0 * std::cos(angle) - b0 * std::sin(angle);
        b = a0 * std::sin(angle) + b0 * std::cos(angle);
      }
    return y;
  };
  auto reference = [&](const std::vector<int>& seq_tokens, size_t last) {
    std::vector<std::vector<double>> ks, vs;
    for (size_t p = 0; p <= last; ++p) {
      ks.push_back(project(tokens[size_t(seq_tokens[p])], k, w.k_norm, NKV, int32_t(p)));
      vs.push_back(times(v, std::vector<double>(tokens[size_t(seq_tokens[p])].begin(), tokens[size_t(seq_tokens[p])].end())));
    }
    const std::vector<double> qq = project(tokens[size_t(seq_tokens[last])], q, w.q_norm, NQ, int32_t(last));
    std::vector<double> att(size_t(NQ * HD), 0.0);
    for (int64_t h = 0; h < NQ; ++h) {
      const int64_t kvh = h / (NQ / NKV);
      std::vector<double> s(last + 1);
      double mx = -1e300, sum = 0;
      for (size_t p = 0; p <= last; ++p) {
        double d = 0;
        for (int64_t i = 0; i < HD; ++i) d += qq[size_t(h * HD + i)] * ks[p][size_t(kvh * HD + i)];
        s[p] = d / std::sqrt(double(HD));
        mx = std::max(mx, s[p]);
      }
      for (double& e : s) sum += (e = std::exp(e - mx));
      for (size_t p = 0; p <= last; ++p)
        for (int64_t i = 0; i < HD; ++i) att[size_t(h * HD + i)] += s[p] / sum * vs[p][size_t(kvh * HD + i)];
    }
    return times(o, att);
  };
  const std::vector<std::pair<std::vector<int>, size_t>> cases = {{{0, 1, 2}, 2}, {{3, 4}, 0}, {{3, 4}, 1}};
  for (size_t r = 0; r < cases.size(); ++r) {
    const std::vector<double> want = reference(cases[r].first, cases[r].second);
    for (int64_t c2 = 0; c2 < H; ++c2) ASSERT_NEAR(out[size_t(int64_t(r) * H + c2)], want[size_t(c2)], 2e-4) << "row " << r;
  }
  const std::vector<double> first = reference({0, 1}, 1);
  for (int64_t c2 = 0; c2 < H; ++c2) ASSERT_NEAR(out_first[size_t(H + c2)], first[size_t(c2)], 2e-4);

  // Rows outside the cache are refused, not written: a negative position, an
  // unbound or negative slot, a position past the reserved blocks.
  for (const auto& [p, sl] : std::vector<std::pair<int32_t, int32_t>>{{-1, 0}, {0, 2}, {0, -1}, {4, 0}}) {
    SCOPED_TRACE(::testing::Message() << "position " << p << " slot " << sl);
    EXPECT_THROW(attention_block(spec, w, BatchRows{1, &p, &sl}, x.data(), out.data(), kv.layer(0), ws), Error);
  }
}

// When split-KV cuts keys: only with fewer items than threads, when the
// longest item is longer than a chunk; chunks of about two per thread in
// whole 16-key tiles, never under min_chunk_keys; never when switched off.
TEST(SplitKv, ChunkLengthRule) {
  const SplitKvSettings saved = split_kv_settings();
  split_kv_settings() = SplitKvSettings{};
  EXPECT_EQ(split_kv_chunk_keys(1, 65536, 65536, 2), 16384);  // 4 chunks for 2 threads
  EXPECT_EQ(split_kv_chunk_keys(1, 10000, 10000, 2), 2512);   // 2500 rounded up to a tile
  EXPECT_EQ(split_kv_chunk_keys(1, 600, 600, 2), 256);        // the minimum
  EXPECT_EQ(split_kv_chunk_keys(1, 256, 256, 2), 0);          // one chunk: not split
  EXPECT_EQ(split_kv_chunk_keys(2, 65536, 60000, 2), 0);      // enough items
  EXPECT_EQ(split_kv_chunk_keys(3, 30000, 20000, 8), 1888);   // 30000 / 16 rounded up
  split_kv_settings().enabled = false;
  EXPECT_EQ(split_kv_chunk_keys(1, 65536, 65536, 2), 0);
  split_kv_settings() = saved;
}

// Split-KV in the GQA block: one sequence of an MQA layer (a single KV
// head, so fewer work items than threads) decoded with its keys split across
// threads gives the unsplit outputs, over blocks of 3 positions, at context
// lengths whose chunks end inside blocks and tiles (17 keys: a last chunk of one).
TEST(AttentionBlock, SplitKvDecodeEqualsUnsplit) {
  ThreadPool& pool = ThreadPool::global();
  if (pool.size() < 2) GTEST_SKIP() << "one thread: attention is never split";
  const SplitKvSettings saved = split_kv_settings();
  split_kv_settings().min_chunk_keys = 16;
  std::mt19937 rng(4);
  constexpr int64_t H = 32, NQ = 4, HD = 40;
  const AttentionSpec spec{NQ, 1, HD, HD, /*interleaved*/ false, QkNorm::PerHead, 10000.0f, 1e-6f};
  Matrix q(NQ * HD, H, rng, 0.3f), k(HD, H, rng, 0.3f), v(HD, H, rng, 0.3f), o(H, NQ * HD, rng, 0.3f);
  const AttentionWeights w{q.view, k.view, v.view, o.view, std::vector<float>(HD, 1.0f), std::vector<float>(HD, 1.0f)};
  ModelConfig c;
  c.num_hidden_layers = 1;
  c.num_key_value_heads = 1;
  c.head_dim = HD;
  constexpr int32_t kBlock = 3, kMaxKeys = 600;
  const int32_t n_blocks = (kMaxKeys + kBlock - 1) / kBlock;
  PagedKVCache kv(c, n_blocks, kBlock);
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  for (int32_t b = 0; b < n_blocks; ++b) table[size_t(b)] = n_blocks - 1 - b;
  kv.bind(0, &table);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int32_t p = 0; p < kMaxKeys; ++p) {
    for (float* row : {kv.key(0, 0, p), kv.value(0, 0, p)})
      for (int64_t i = 0; i < HD; ++i) row[i] = normal(rng);
  }
  std::vector<float> x(static_cast<size_t>(H));
  for (float& a : x) a = normal(rng);
  Workspace ws;
  auto decode = [&](int32_t pos, bool split) {
    split_kv_settings().enabled = split;
    const int32_t slot = 0;
    std::vector<float> out(static_cast<size_t>(H));
    attention_block(spec, w, BatchRows{1, &pos, &slot}, x.data(), out.data(), kv.layer(0), ws);
    return out;
  };
  for (const int32_t pos : {16, 40, 255, 256, 300, 599}) {
    SCOPED_TRACE(::testing::Message() << "position " << pos);
    ASSERT_GT(split_kv_chunk_keys(1, pos + 1, pos + 1, pool.size()), 0);
    const std::vector<float> unsplit = decode(pos, false), split = decode(pos, true);
    double scale = 0;
    for (float a : unsplit) scale = std::max(scale, double(std::fabs(a)));
    for (size_t i = 0; i < unsplit.size(); ++i) ASSERT_NEAR(split[i], unsplit[i], 1e-5 * scale) << i;
  }
  split_kv_settings() = saved;
}

}  // namespace
}  // namespace strata
