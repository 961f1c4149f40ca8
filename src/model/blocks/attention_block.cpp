#include "model/blocks/attention_block.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <optional>

#include "core/op_profile.h"
#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "model/batch_rows.h"
#include "model/kv_cache.h"
#include "model/workspace.h"

namespace strata {

namespace {

void qk_norm(QkNorm kind, float* v, const std::vector<float>& w, int64_t n, int64_t heads, int64_t head_dim,
             float eps) {
  if (kind == QkNorm::PerHead) rmsnorm(v, w.data(), v, n * heads, head_dim, eps);
  if (kind == QkNorm::Full) rmsnorm(v, w.data(), v, n, heads * head_dim, eps);
}

// The cached positions attention reads: per sequence, up to its furthest row.
int64_t cached_rows(const BatchRows& rows, int32_t n_slots) {
  std::vector<int64_t> reach(size_t(n_slots), 0);
  for (int64_t t = 0; t < rows.n_tokens; ++t) {
    int64_t& r = reach[size_t(rows.seq_slots[t])];
    r = std::max<int64_t>(r, rows.positions[t] + 1);
  }
  int64_t total = 0;
  for (int64_t r : reach) total += r;
  return total;
}

}  // namespace

void attention_block(const AttentionSpec& s, const AttentionWeights& w, const BatchRows& rows, const float* x,
                     float* out, const KVLayerView& kv, Workspace& ws) {
  const int64_t n = rows.n_tokens, hd = s.head_dim, n_heads = s.n_heads, n_kv = s.n_kv_heads,
                group = n_heads / n_kv;
  float* q = ws.floats(Scratch::Q, size_t(n * n_heads * hd));
  float* k = ws.floats(Scratch::K, size_t(n * n_kv * hd));
  float* v = ws.floats(Scratch::V, size_t(n * n_kv * hd));
  float* att = ws.floats(Scratch::Attn, size_t(n * n_heads * hd));
  {
    ScopedOp op(Op::QkvProj, double(w.q.stored_bytes() + w.k.stored_bytes() + w.v.stored_bytes()));
    matmul_shared_input(x, n, {{&w.q, q}, {&w.k, k}, {&w.v, v}});
  }
  {
    ScopedOp op(Op::QkNormRope);
    qk_norm(s.qk_norm, q, w.q_norm, n, n_heads, hd, s.eps);
    qk_norm(s.qk_norm, k, w.k_norm, n, n_kv, hd, s.eps);
    const auto rope = s.rope_interleaved ? rope_gptj : rope_neox;
    rope(q, n, n_heads, hd, s.rotary_dim, rows.positions, s.rope_theta);
    rope(k, n, n_kv, hd, s.rotary_dim, rows.positions, s.rope_theta);
  }

  std::optional<ScopedOp> op(std::in_place, Op::KvWrite);
  const std::vector<const std::vector<int32_t>*> tables = kv.tables_for(n, rows.seq_slots, rows.positions);
  const size_t kv_row = size_t(n_kv * hd) * sizeof(float);
  for (int64_t t = 0; t < n; ++t) {
    float* row = kv.row(*tables[size_t(rows.seq_slots[t])], rows.positions[t]);
    std::memcpy(row, &k[size_t(t * n_kv * hd)], kv_row);
    std::memcpy(row + kv.value_offset, &v[size_t(t * n_kv * hd)], kv_row);
  }
  // Attention reads each sequence's cached K and V rows once per layer (the
  // query heads of a KV head share them through the cache).
  op.emplace(Op::Attention, op_profile::enabled() ? 2.0 * double(cached_rows(rows, kv.n_slots)) * double(kv_row) : 0.0);

  // Work items are (block of up to kBlockRows consecutive rows of one
  // sequence, KV head, query heads): a block's queries share each cached K/V
  // row. With few items (decoding) each query head is its own item so that
  // all threads take part. Items go biggest first from a shared counter, so
  // a causal prompt's long late rows do not all land on one thread.
  constexpr int64_t kBlockRows = 4;
  struct Block {
    int64_t row, n_rows, cost;
  };
  std::vector<int32_t> n_keys(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) n_keys[size_t(t)] = rows.positions[t] + 1;
  std::vector<Block> blocks;
  for (int64_t t = 0; t < n;) {
    Block b{t, 0, 0};
    for (; t < n && b.n_rows < kBlockRows && rows.seq_slots[t] == rows.seq_slots[b.row]; ++t, ++b.n_rows) {
      b.cost += n_keys[size_t(t)];
    }
    blocks.push_back(b);
  }
  ThreadPool& pool = ThreadPool::global();
  const int64_t heads_per_item = int64_t(blocks.size()) * n_kv >= 2 * pool.size() ? group : 1;
  struct Item {
    int64_t row, n_rows, kv_head, head, cost;
  };
  std::vector<Item> items;
  for (const Block& b : blocks)
    for (int64_t kvh = 0; kvh < n_kv; ++kvh)
      for (int64_t j = 0; j < group; j += heads_per_item)
        items.push_back({b.row, b.n_rows, kvh, kvh * group + j, b.cost * heads_per_item});
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.cost > b.cost; });
  const float scale = 1.0f / std::sqrt(float(hd));
  std::atomic<size_t> next{0};
  pool.run_on_all([&](int) {
    for (size_t i; (i = next.fetch_add(1)) < items.size();) {
      const Item& it = items[i];
      const std::vector<int32_t>& table = *tables[size_t(rows.seq_slots[it.row])];
      const size_t at = size_t((it.row * n_heads + it.head) * hd);
      const float* k_base = kv.base + it.kv_head * hd;
      strata::attention(AttentionArgs{hd, it.n_rows, heads_per_item, &q[at], &att[at], n_heads * hd,
                                      &n_keys[size_t(it.row)], k_base, k_base + kv.value_offset, table.data(),
                                      kv.block_size, kv.block_stride, kv.row_floats, scale});
    }
  });
  op.emplace(Op::OProj, double(w.o.stored_bytes()));
  matmul(att, n, w.o, out);
}

}  // namespace strata
