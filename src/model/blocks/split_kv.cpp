#include "model/blocks/split_kv.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/thread_pool.h"
#include "model/workspace.h"

namespace strata {

SplitKvSettings& split_kv_settings() {
  static SplitKvSettings settings = [] {
    SplitKvSettings s;
    const char* env = std::getenv("STRATA_SPLIT_KV");
    s.enabled = !(env && std::strcmp(env, "off") == 0);
    return s;
  }();
  return settings;
}

int32_t split_kv_chunk_keys(int64_t n_items, int64_t total_keys, int32_t max_keys, int n_threads) {
  const SplitKvSettings& s = split_kv_settings();
  if (!s.enabled || n_items >= n_threads) return 0;
  constexpr int64_t kAlign = 16;  // whole AVX-512 tiles
  const int64_t per_chunk = (total_keys + 2 * n_threads - 1) / (2 * n_threads);
  const int64_t chunk = std::max<int64_t>(s.min_chunk_keys, (per_chunk + kAlign - 1) / kAlign * kAlign);
  return max_keys > chunk ? int32_t(chunk) : 0;
}

void run_attention_items(const std::vector<AttentionItem>& items, int64_t n_rows, int64_t n_heads, int64_t dim,
                         int32_t chunk_keys, float* out, ThreadPool& pool, Workspace& ws, const AttendFn& attend) {
  struct Task {
    size_t item;
    int32_t chunk, begin, end;
    int64_t cost;
  };
  std::vector<Task> tasks;
  std::vector<int32_t> n_chunks(items.size(), 1);
  int32_t max_chunks = 1;
  for (size_t i = 0; i < items.size(); ++i) {
    const AttentionItem& it = items[i];
    const int64_t queries = it.n_rows * it.n_heads;
    if (chunk_keys <= 0 || it.n_keys <= chunk_keys) {
      tasks.push_back({i, 0, 0, it.n_keys, it.n_keys * queries});
      continue;
    }
    n_chunks[i] = (it.n_keys + chunk_keys - 1) / chunk_keys;
    max_chunks = std::max(max_chunks, n_chunks[i]);
    for (int32_t c = 0; c < n_chunks[i]; ++c) {
      const int32_t begin = c * chunk_keys, end = std::min(it.n_keys, begin + chunk_keys);
      tasks.push_back({i, c, begin, end, (end - begin) * queries});
    }
  }
  // Longest first, so that a causal prompt's late rows do not all land on one thread.
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.cost > b.cost; });

  // Chunk c of every split item writes the output layout at parts + c * part_stride.
  const int64_t n_queries = n_rows * n_heads, part_stride = n_queries * dim;
  float* parts = max_chunks > 1 ? ws.floats(Scratch::AttnParts, size_t(max_chunks * part_stride)) : nullptr;
  SoftmaxState* states = max_chunks > 1 ? ws.softmax_states(size_t(max_chunks * n_queries)) : nullptr;
  const std::unique_ptr<std::atomic<int32_t>[]> chunks_left(new std::atomic<int32_t>[items.size()]);
  for (size_t i = 0; i < items.size(); ++i) chunks_left[i].store(n_chunks[i], std::memory_order_relaxed);

  std::atomic<size_t> next{0};
  pool.run_on_all([&](int) {
    for (size_t k; (k = next.fetch_add(1)) < tasks.size();) {
      const Task& task = tasks[k];
      const AttentionItem& it = items[task.item];
      if (n_chunks[task.item] == 1) {
        attend(it, task.begin, task.end, out, nullptr);
        continue;
      }
      attend(it, task.begin, task.end, parts + task.chunk * part_stride, states + task.chunk * n_queries);
      // The last chunk to finish sees the others' parts (acquire) and merges.
      if (chunks_left[task.item].fetch_sub(1, std::memory_order_acq_rel) != 1) continue;
      for (int64_t t = it.row; t < it.row + it.n_rows; ++t) {
        for (int64_t h = it.head; h < it.head + it.n_heads; ++h) {
          const int64_t q = t * n_heads + h;
          merge_attention_parts(dim, n_chunks[task.item], parts + q * dim, part_stride, states + q, n_queries,
                                out + q * dim);
        }
      }
    }
  });
}

}  // namespace strata
