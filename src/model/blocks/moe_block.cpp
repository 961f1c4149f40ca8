#include "model/blocks/moe_block.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>

#include "core/op_profile.h"
#include "core/thread_pool.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"
#include "kernels/kernel_calls.h"
#include "kernels/ops.h"
#include "model/batch_rows.h"
#include "model/workspace.h"

namespace strata {

namespace {

// Work items are pieces of one expert's output rows, cut so that pieces cost
// about the same: a dominant expert (most tokens) is shared by all threads,
// while small experts stay whole. Biggest first, taken from a shared
// counter, so both cores stay busy whatever the routing. `first` holds each
// expert's range of gathered rows.
template <typename Compute>
void run_expert_pieces(const int64_t* first, int64_t n_experts, int64_t rows, const Compute& compute) {
  struct Piece {
    int32_t expert;
    int64_t row_begin, row_end, cost;
  };
  ThreadPool& pool = ThreadPool::global();
  int64_t total = 0;
  for (int64_t e = 0; e < n_experts; ++e) total += (first[e + 1] - first[e]) * rows;
  const int64_t target = std::max<int64_t>(1, total / (4 * pool.size()));
  std::vector<Piece> pieces;
  for (int32_t e = 0; e < n_experts; ++e) {
    const int64_t m = first[e + 1] - first[e];
    if (m == 0) continue;
    const int64_t max_pieces = (rows + kMatmulRowAlign - 1) / kMatmulRowAlign;
    const int64_t n_pieces = std::clamp<int64_t>((m * rows + target - 1) / target, 1, max_pieces);
    const int64_t step = ((rows + n_pieces - 1) / n_pieces + kMatmulRowAlign - 1) / kMatmulRowAlign * kMatmulRowAlign;
    for (int64_t r = 0; r < rows; r += step) pieces.push_back({e, r, std::min(rows, r + step), m * std::min(step, rows - r)});
  }
  std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.cost > b.cost; });
  std::atomic<size_t> next{0};
  pool.run_on_all([&](int) {
    for (size_t i; (i = next.fetch_add(1)) < pieces.size();) {
      const Piece& p = pieces[i];
      compute(p.expert, first[p.expert], first[p.expert + 1] - first[p.expert], p.row_begin, p.row_end);
    }
  });
}

}  // namespace

void moe_block(const MoeSpec& spec, const MoeWeights& w, const float* x, int64_t n, int64_t h, float* out,
               Workspace& ws, ForwardStats* stats) {
  const RouterSpec& r = spec.router;
  const int64_t n_exp = r.n_experts, top_k = r.top_k, ffn = spec.expert_ffn, n_routes = n * top_k;
  float* router_logits = ws.floats(Scratch::RouterLogits, size_t(n * n_exp));
  float* route_weight = ws.floats(Scratch::RouteWeight, size_t(n_routes));
  int32_t* route_expert = ws.ids(size_t(n_routes));
  std::optional<ScopedOp> op(std::in_place, Op::Router, double(w.router.stored_bytes()));
  matmul(x, n, w.router, router_logits);
  const RouterParams params{r.scoring == RouterScoring::Sigmoid, r.renormalize, r.routed_scale, r.n_group,
                            r.topk_group, r.correction_bias ? w.correction_bias.data() : nullptr};
  for (int64_t t = 0; t < n; ++t) {
    topk_router(&router_logits[t * n_exp], n_exp, top_k, params, &route_expert[t * top_k], &route_weight[t * top_k]);
  }
  if (observing_kernel_calls() && w.experts[0].gate.int4) {
    const int64_t call_shape[] = {n_exp, top_k, h, ffn};  // for workload capture
    observe_kernel_call(KernelCall{.kernel = kMoeExpertsCall, .shape = call_shape, .tokens = n,
                                   .expert_ids = std::span<const int32_t>(route_expert, size_t(n_routes))});
  }
  // Group the (token, choice) routes by expert: expert e's routes become the
  // rows [first[e], first[e] + count) of the gathered buffers, so each
  // expert's weights are read once for all its rows.
  int64_t* first = ws.indices(IndexScratch::ExpertFirst, size_t(n_exp) + 1);
  int64_t* order = ws.indices(IndexScratch::RouteOrder, size_t(n_routes));
  int64_t* next_row = ws.indices(IndexScratch::ExpertCursor, size_t(n_exp));
  std::fill(first, first + n_exp + 1, 0);
  for (int64_t i = 0; i < n_routes; ++i) ++first[route_expert[i] + 1];
  for (int64_t e = 0; e < n_exp; ++e) first[e + 1] += first[e];
  std::copy(first, first + n_exp, next_row);
  for (int64_t i = 0; i < n_routes; ++i) order[next_row[route_expert[i]]++] = i;
  // W4A8 experts take the layer input quantized once per token, its rows
  // gathered per expert as int8 (a quarter of the f32 bytes), instead of
  // every expert's gate and up projections quantizing their f32 rows again.
  const MlpWeights& any = w.experts[0];
  bool quantized = any.gate.int4 && any.up.int4 && int4_gemm_runs_w4a8(*any.gate.int4) &&
                   int4_gemm_runs_w4a8(*any.up.int4);
  int64_t touched = 0, touched_bytes = 0;
  for (int64_t e = 0; e < n_exp; ++e) {
    if (first[e + 1] == first[e]) continue;
    const MlpWeights& mlp = w.experts[size_t(e)];
    quantized = quantized && mlp.gate.int4 && mlp.up.int4;
    ++touched;
    for (const WeightMatrix* m : {&mlp.gate, &mlp.up, &mlp.down}) touched_bytes += int64_t(m->stored_bytes());
  }
  if (stats) {
    ++stats->moe_calls;
    stats->experts_touched += touched;
    stats->expert_bytes += touched_bytes;
  }
  op.emplace(Op::Experts, double(touched_bytes));
  float* gate = ws.floats(Scratch::Gate, size_t(n_routes * ffn));
  float* up = ws.floats(Scratch::Up, size_t(n_routes * ffn));
  float* y = ws.floats(Scratch::ExpertOut, size_t(n_routes * h));
  float* xin = nullptr;
  QuantizedActivations xq{};
  if (quantized) {
    const int64_t groups = h / Int4Matrix::kGroup;
    const QuantizedActivations tokens = int4_quantize_input(x, n, h);
    const Q8Rows rows = ws.q8_rows(size_t(n_routes), size_t(h), size_t(groups));
    for (int64_t i = 0; i < n_routes; ++i) {
      const int64_t t = order[i] / top_k;
      std::memcpy(&rows.q[i * h], &tokens.q[t * h], size_t(h));
      std::memcpy(&rows.d[i * groups], &tokens.d[t * groups], size_t(groups) * sizeof(float));
      std::memcpy(&rows.qsum[i * groups], &tokens.qsum[t * groups], size_t(groups) * sizeof(int32_t));
    }
    xq = {rows.q, rows.d, rows.qsum, h, groups};
  } else {
    xin = ws.floats(Scratch::Gathered, size_t(n_routes * h));
    for (int64_t i = 0; i < n_routes; ++i) std::memcpy(&xin[i * h], x + (order[i] / top_k) * h, size_t(h) * sizeof(float));
  }

  // gate and up for the piece's rows, then the activation on those rows.
  run_expert_pieces(first, n_exp, ffn, [&](int32_t e, int64_t f, int64_t m, int64_t r0, int64_t r1) {
    const MlpWeights& mlp = w.experts[size_t(e)];
    if (quantized) {
      int4_gemm_rows_q8(xq.token(f), m, *mlp.gate.int4, &gate[f * ffn], r0, r1);
      int4_gemm_rows_q8(xq.token(f), m, *mlp.up.int4, &up[f * ffn], r0, r1);
    } else {
      matmul_rows(&xin[f * h], m, mlp.gate, &gate[f * ffn], r0, r1);
      matmul_rows(&xin[f * h], m, mlp.up, &up[f * ffn], r0, r1);
    }
    for (int64_t t = f; t < f + m; ++t) silu_mul(&gate[t * ffn + r0], &up[t * ffn + r0], &gate[t * ffn + r0], r1 - r0);
  });
  run_expert_pieces(first, n_exp, h, [&](int32_t e, int64_t f, int64_t m, int64_t r0, int64_t r1) {
    matmul_rows(&gate[f * ffn], m, w.experts[size_t(e)].down, &y[f * h], r0, r1);
  });

  // Each token sums its routes' weighted outputs in choice order: the result
  // does not depend on the batch or on which thread ran which piece.
  int64_t* gathered_at = ws.indices(IndexScratch::GatheredAt, size_t(n_routes));  // route -> its row of y
  for (int64_t i = 0; i < n_routes; ++i) gathered_at[order[i]] = i;
  // The shared expert's mlp_block takes Gate and Up again: the routed
  // experts are done with them by now.
  float* shared = nullptr;
  if (spec.shared_ffn > 0) {
    op.emplace(Op::SharedExperts,
               double(w.shared.gate.stored_bytes() + w.shared.up.stored_bytes() + w.shared.down.stored_bytes()));
    shared = ws.floats(Scratch::SharedOut, size_t(n * h));
    mlp_block(w.shared, x, n, shared, ws);
  }
  op.emplace(Op::ExpertCombine);
  moe_combine(y, gathered_at, route_weight, n, top_k, h, shared, out);
}

}  // namespace strata
