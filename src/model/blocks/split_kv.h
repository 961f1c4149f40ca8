#pragma once
// Running attention's work items on the thread pool, with split-KV
// ("flash-decoding") for long contexts; shared by the GQA and latent
// attention blocks, which decide what an item is. An item is a run of rows
// of one sequence and a run of query heads whose queries share each cached
// row the kernel reads; query (row t, head h) of the block writes dim floats
// at out + (t * n_heads + h) * dim. When there are fewer items than threads
// (decoding one or a few sequences) splitting heads would make every thread
// read the whole context; instead each item's key range is cut into chunks
// that different threads attend, each writing a partial output and softmax
// state, and the thread that finishes an item's last chunk merges them
// (kernels/attention_merge.h).
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/attention_merge.h"

namespace strata {

class ThreadPool;
class Workspace;

struct SplitKvSettings {
  bool enabled = true;
  // A chunk is at least this many keys (16 AVX-512 tiles), so that its
  // set-up and its share of the merge stay small against its scoring.
  int32_t min_chunk_keys = 256;
};
// Process-wide, read by every forward pass; STRATA_SPLIT_KV=off starts it
// disabled. Tests and benchmarks change it between forward passes.
SplitKvSettings& split_kv_settings();

// The chunk length, in keys, that cuts n_items items (total_keys keys in
// all, the longest max_keys) into about two chunks per thread; 0 when they
// should not be split: splitting is off, the items already keep every
// thread busy, or no item is longer than one chunk.
int32_t split_kv_chunk_keys(int64_t n_items, int64_t total_keys, int32_t max_keys, int n_threads);

struct AttentionItem {
  int64_t row, n_rows, head, n_heads;
  int32_t n_keys;  // keys [0, n_keys) of its last (longest) row
};

// One kernel call: the item's queries over keys [key_begin, key_end),
// written in the block's output layout from out; states (null for a whole
// item) takes query (t, h)'s softmax state at states[t * n_heads + h].
using AttendFn = std::function<void(const AttentionItem& item, int32_t key_begin, int32_t key_end, float* out,
                                    SoftmaxState* states)>;

// Runs every item on all threads of pool, longest first; with chunk_keys > 0
// an item of more keys is attended in chunks of chunk_keys and merged into out.
void run_attention_items(const std::vector<AttentionItem>& items, int64_t n_rows, int64_t n_heads, int64_t dim,
                         int32_t chunk_keys, float* out, ThreadPool& pool, Workspace& ws, const AttendFn& attend);

}  // namespace strata
