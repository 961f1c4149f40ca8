#include "model/blocks/mla_block.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>

#include "core/op_profile.h"
#include "core/thread_pool.h"
#include "kernels/kernel_calls.h"
#include "kernels/mla_attention.h"
#include "kernels/ops.h"
#include "model/batch_rows.h"
#include "model/blocks/split_kv.h"
#include "model/kv_cache.h"
#include "model/workspace.h"

namespace strata {

namespace {

// For each head h: dst[t, h] (dst_width floats at dst + t * dst_stride + h * dst_head)
// = src[t, h] (src + t * src_stride + h * src_head, m.cols floats) · m_h^T.
// Decode-sized batches take the heads in one pass over all threads, each
// head's small product on one thread: one fork-join instead of one per head
// (K2: 2 x 64 per layer and step). Larger ones split each product's rows.
void per_head_matmul(const std::vector<WeightMatrix>& m, int64_t n, const float* src, int64_t src_stride,
                     int64_t src_head, float* dst, int64_t dst_stride, int64_t dst_head, Workspace& ws) {
  const int64_t in = m[0].cols, width = m[0].rows;
  auto product = [&](size_t h, float* gathered, float* result, bool serial) {
    for (int64_t t = 0; t < n; ++t) {
      std::memcpy(&gathered[t * in], src + t * src_stride + int64_t(h) * src_head, size_t(in) * sizeof(float));
    }
    (serial ? matmul_serial : matmul)(gathered, n, m[h], result);
    for (int64_t t = 0; t < n; ++t) {
      std::memcpy(dst + t * dst_stride + int64_t(h) * dst_head, &result[t * width], size_t(width) * sizeof(float));
    }
  };
  ThreadPool& pool = ThreadPool::global();
  if (n > kSharedInputMaxTokens) {
    float* gathered = ws.floats(Scratch::HeadIn, size_t(n * in));
    float* result = ws.floats(Scratch::HeadOut, size_t(n * width));
    for (size_t h = 0; h < m.size(); ++h) product(h, gathered, result, false);
    return;
  }
  // One gather and one result buffer per thread.
  float* gathered = ws.floats(Scratch::HeadIn, size_t(pool.size() * n * in));
  float* result = ws.floats(Scratch::HeadOut, size_t(pool.size() * n * width));
  std::atomic<size_t> next{0};
  pool.run_on_all([&](int thread) {
    for (size_t h; (h = next.fetch_add(1)) < m.size();) {
      product(h, gathered + thread * n * in, result + thread * n * width, true);
    }
  });
}

// A weight matrix decoded to f32 rows.
std::vector<float> decoded(const WeightMatrix& m) {
  std::vector<float> out(size_t(m.rows * m.cols));
  for (int64_t r = 0; r < m.rows; ++r) dequantize_row(m.dtype, m.row(r), m.cols, &out[size_t(r * m.cols)]);
  return out;
}

// The reference: every visible latent expanded to the head's k_nope and v,
// then softmax attention per (row, head). Scalar and unthreaded.
void naive_attention(const MlaSpec& s, const MlaWeights& w, const BatchRows& rows, const float* q,
                     const KVLayerView& kv, const std::vector<const std::vector<int32_t>*>& tables, float* att) {
  const int64_t n = rows.n_tokens, lora = s.kv_lora_rank, nope = s.nope_dim, rope = s.rope_dim, vd = s.v_dim,
                q_head = nope + rope;
  std::vector<float> k_nope(static_cast<size_t>(nope)), scores, values;
  for (int64_t h = 0; h < s.n_heads; ++h) {
    const std::vector<float> uk_t = decoded(w.k_b[size_t(h)]), uv = decoded(w.v_b[size_t(h)]);
    for (int64_t t = 0; t < n; ++t) {
      const std::vector<int32_t>& table = *tables[size_t(rows.seq_slots[t])];
      const int64_t n_keys = rows.positions[t] + 1;
      const float* qh = q + (t * s.n_heads + h) * q_head;
      scores.assign(size_t(n_keys), 0.0f);
      values.assign(size_t(n_keys * vd), 0.0f);
      for (int64_t j = 0; j < n_keys; ++j) {
        const float* c = kv.row(table, int32_t(j));
        std::fill(k_nope.begin(), k_nope.end(), 0.0f);
        for (int64_t i = 0; i < lora; ++i)
          for (int64_t d = 0; d < nope; ++d) k_nope[size_t(d)] += uk_t[size_t(i * nope + d)] * c[i];
        float dot = 0;
        for (int64_t d = 0; d < nope; ++d) dot += qh[d] * k_nope[size_t(d)];
        for (int64_t d = 0; d < rope; ++d) dot += qh[nope + d] * c[lora + d];
        scores[size_t(j)] = dot * s.softmax_scale;
        for (int64_t d = 0; d < vd; ++d) {
          float v = 0;
          for (int64_t i = 0; i < lora; ++i) v += uv[size_t(d * lora + i)] * c[i];
          values[size_t(j * vd + d)] = v;
        }
      }
      softmax_scalar(scores.data(), n_keys);
      float* o = att + (t * s.n_heads + h) * vd;
      std::fill(o, o + vd, 0.0f);
      for (int64_t j = 0; j < n_keys; ++j)
        for (int64_t d = 0; d < vd; ++d) o[d] += scores[size_t(j)] * values[size_t(j * vd + d)];
    }
  }
}

// The absorbed form: queries moved into the latent space, attention over
// the cached latent rows (kernels/mla_attention.h), outputs moved out by W_UV.
void absorbed_attention(const MlaSpec& s, const MlaWeights& w, const BatchRows& rows, const float* q,
                        const KVLayerView& kv, const std::vector<const std::vector<int32_t>*>& tables, float* att,
                        Workspace& ws) {
  const int64_t n = rows.n_tokens, H = s.n_heads, lora = s.kv_lora_rank, nope = s.nope_dim, rope = s.rope_dim,
                q_head = nope + rope, width = lora + rope;
  float* q_abs = ws.floats(Scratch::QAbsorbed, size_t(n * H * width));
  float* o_lat = ws.floats(Scratch::AttnLatent, size_t(n * H * lora));
  per_head_matmul(w.k_b, n, q, H * q_head, q_head, q_abs, H * width, width, ws);  // W_UK^T q_nope
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < H; ++h) {
      std::memcpy(&q_abs[(t * H + h) * width + lora], &q[(t * H + h) * q_head + nope], size_t(rope) * sizeof(float));
    }
  // Work items are (row, run of heads); a run's heads share each latent row
  // the kernel reads. All heads of a row when there are enough rows to keep
  // every thread busy, or when there are fewer rows than threads and the
  // context is long: then the rows' keys are split instead (split_kv.h), so
  // each latent row is still read once. Otherwise (decoding short contexts)
  // the heads split evenly.
  ThreadPool& pool = ThreadPool::global();
  int64_t total_keys = 0;
  int32_t max_keys = 0;
  for (int64_t t = 0; t < n; ++t) {
    total_keys += rows.positions[t] + 1;
    max_keys = std::max(max_keys, rows.positions[t] + 1);
  }
  const int32_t chunk_keys = split_kv_chunk_keys(n, total_keys, max_keys, pool.size());
  const int64_t heads_per_item = chunk_keys > 0 || n >= 2 * pool.size() ? H : (H + pool.size() - 1) / pool.size();
  std::vector<AttentionItem> items;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < H; h += heads_per_item)
      items.push_back({t, 1, h, std::min(heads_per_item, H - h), rows.positions[t] + 1});
  const int64_t call_shape[] = {H, lora, rope, kv.block_size};  // for workload capture
  observe_paged_attention(kMlaPagedAttention.name, call_shape, n, rows.seq_slots, rows.positions);
  run_attention_items(items, n, H, lora, chunk_keys, o_lat, pool, ws,
                      [&](const AttentionItem& it, int32_t begin, int32_t end, float* out, SoftmaxState* states) {
                        const std::vector<int32_t>& table = *tables[size_t(rows.seq_slots[it.row])];
                        const int64_t query = it.row * H + it.head;
                        mla_attention(MlaAttentionArgs{lora, rope, it.n_heads, &q_abs[query * width],
                                                       out + query * lora, begin, end, kv.base, table.data(),
                                                       kv.block_size, kv.block_stride, kv.row_floats, s.softmax_scale,
                                                       states ? states + query : nullptr});
                      });
  per_head_matmul(w.v_b, n, o_lat, H * lora, lora, att, H * s.v_dim, s.v_dim, ws);  // W_UV o_lat
}

}  // namespace

void mla_block(const MlaSpec& s, const MlaWeights& w, const BatchRows& rows, const float* x, float* out,
               const KVLayerView& kv, Workspace& ws, MlaForm form) {
  const int64_t n = rows.n_tokens, H = s.n_heads, lora = s.kv_lora_rank, rope = s.rope_dim,
                q_head = s.nope_dim + rope, width = lora + rope;
  float* q = ws.floats(Scratch::Q, size_t(n * H * q_head));
  float* latent = ws.floats(Scratch::KvLatent, size_t(n * width));
  std::optional<ScopedOp> op(std::in_place, Op::QkvProj,
                             double(w.q_a.stored_bytes() + w.q_b.stored_bytes() + w.q.stored_bytes() +
                                    w.kv_a.stored_bytes()));
  if (s.q_lora_rank > 0) {
    float* cq = ws.floats(Scratch::QLatent, size_t(n * s.q_lora_rank));
    matmul(x, n, w.q_a, cq);
    rmsnorm(cq, w.q_a_norm.data(), cq, n, s.q_lora_rank, s.eps);
    matmul(cq, n, w.q_b, q);
  } else {
    matmul(x, n, w.q, q);
  }
  matmul(x, n, w.kv_a, latent);
  op.emplace(Op::QkNormRope);
  for (int64_t t = 0; t < n; ++t) rmsnorm(&latent[t * width], w.kv_a_norm.data(), &latent[t * width], 1, lora, s.eps);
  rope_interleaved(q + s.nope_dim, n, H * q_head, H, q_head, rows.positions, s.rope);
  rope_interleaved(latent + lora, n, width, 1, 0, rows.positions, s.rope);

  op.emplace(Op::KvWrite);
  const std::vector<const std::vector<int32_t>*> tables = kv.tables_for(n, rows.seq_slots, rows.positions);
  for (int64_t t = 0; t < n; ++t) {
    std::memcpy(kv.row(*tables[size_t(rows.seq_slots[t])], rows.positions[t]), &latent[t * width],
                size_t(width) * sizeof(float));
  }
  // Attention reads each sequence's latent rows once per layer (all heads
  // share them), and the per-head W_UK / W_UV that move queries and outputs
  // into and out of the latent space.
  double attention_bytes = 0;
  if (op_profile::enabled()) {
    attention_bytes = double(cached_rows_read(rows, kv.n_slots) * width) * sizeof(float);
    for (const WeightMatrix& m : w.k_b) attention_bytes += double(m.stored_bytes());
    for (const WeightMatrix& m : w.v_b) attention_bytes += double(m.stored_bytes());
  }
  op.emplace(Op::Attention, attention_bytes);
  float* att = ws.floats(Scratch::Attn, size_t(n * H * s.v_dim));
  if (form == MlaForm::Naive) {
    naive_attention(s, w, rows, q, kv, tables, att);
  } else {
    absorbed_attention(s, w, rows, q, kv, tables, att, ws);
  }
  op.emplace(Op::OProj, double(w.o.stored_bytes()));
  matmul(att, n, w.o, out);
}

}  // namespace strata
