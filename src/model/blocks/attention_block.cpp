#include "model/blocks/attention_block.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "core/op_profile.h"
#include "core/thread_pool.h"
#include "kernels/kernel_calls.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "model/batch_rows.h"
#include "model/blocks/split_kv.h"
#include "model/kv_cache.h"
#include "model/workspace.h"

namespace strata {

namespace {

void qk_norm(QkNorm kind, float* v, const std::vector<float>& w, int64_t n, int64_t heads, int64_t head_dim,
             float eps) {
  if (kind == QkNorm::PerHead) rmsnorm(v, w.data(), v, n * heads, head_dim, eps);
  if (kind == QkNorm::Full) rmsnorm(v, w.data(), v, n, heads * head_dim, eps);
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
  op.emplace(Op::Attention, op_profile::enabled() ? 2.0 * double(cached_rows_read(rows, kv.n_slots)) * double(kv_row) : 0.0);

  // Work items are (block of up to kBlockRows consecutive rows of one
  // sequence, KV head, query heads): a block's queries share each cached K/V
  // row. With fewer blocks x KV heads than threads and a long context, every
  // item keeps its whole GQA group and its keys are split (split_kv.h); with
  // few items otherwise (decoding short contexts) each query head is its own
  // item so that all threads take part. 16 rows: the kernel transposes each
  // tile of 16 keys once per item, so 4-row blocks spent a quarter of a
  // 512-token prefill's attention there (16 rows: 0.7x its time); a
  // 512-token prompt still makes 32 blocks per KV head.
  constexpr int64_t kBlockRows = 16;
  std::vector<int32_t> n_keys(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) n_keys[size_t(t)] = rows.positions[t] + 1;
  std::vector<AttentionItem> blocks;  // rows only: the heads are set per item below
  int64_t total_keys = 0;
  int32_t max_keys = 0;
  for (int64_t t = 0; t < n;) {
    AttentionItem b{t, 0, 0, 0, 0};
    for (; t < n && b.n_rows < kBlockRows && rows.seq_slots[t] == rows.seq_slots[b.row]; ++t, ++b.n_rows) {
      b.n_keys = n_keys[size_t(t)];
    }
    blocks.push_back(b);
    total_keys += b.n_keys * n_kv;
    max_keys = std::max(max_keys, b.n_keys);
  }
  ThreadPool& pool = ThreadPool::global();
  const int64_t whole_items = int64_t(blocks.size()) * n_kv;
  const int32_t chunk_keys = split_kv_chunk_keys(whole_items, total_keys, max_keys, pool.size());
  const int64_t heads_per_item = chunk_keys > 0 || whole_items >= 2 * pool.size() ? group : 1;
  std::vector<AttentionItem> items;
  for (const AttentionItem& b : blocks)
    for (int64_t head = 0; head < n_heads; head += heads_per_item)
      items.push_back({b.row, b.n_rows, head, heads_per_item, b.n_keys});
  const float scale = 1.0f / std::sqrt(float(hd));
  const int64_t call_shape[] = {n_heads, n_kv, hd, kv.block_size};  // for workload capture
  observe_paged_attention(kGqaPagedAttention.name, call_shape, n, rows.seq_slots, rows.positions);
  run_attention_items(items, n, n_heads, hd, chunk_keys, att, pool, ws,
                      [&](const AttentionItem& it, int32_t begin, int32_t end, float* out, SoftmaxState* states) {
                        const std::vector<int32_t>& table = *tables[size_t(rows.seq_slots[it.row])];
                        const int64_t query = it.row * n_heads + it.head;
                        const float* k_base = kv.base + it.head / group * hd;
                        strata::attention(AttentionArgs{hd, it.n_rows, it.n_heads, &q[size_t(query * hd)],
                                                        out + query * hd, n_heads * hd, &n_keys[size_t(it.row)],
                                                        k_base, k_base + kv.value_offset, table.data(),
                                                        kv.block_size, kv.block_stride, kv.row_floats, scale, begin,
                                                        end, states ? states + query : nullptr, n_heads});
                      });
  op.emplace(Op::OProj, double(w.o.stored_bytes()));
  matmul(att, n, w.o, out);
}

}  // namespace strata
