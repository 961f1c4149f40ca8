#pragma once
// The KV numbers of the paged cache: float32 storage of num_blocks blocks,
// each [layers][keys, values][block_size][row] with the model's row widths
// (GQA: n_kv_heads * head_dim each; MLA: one latent row, no separate values). The executor
// binds each batch slot to its sequence's block table for the step, and the
// model reaches the rows through per-layer views (model/kv_cache.h). Pages
// are touched only when first written, so a large budget costs no memory
// until used. Block ids in the tables must be < num_blocks (the block
// manager hands out no others).
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "model/kv_cache.h"

namespace strata {

class PagedKVCache : public KVCache {
 public:
  PagedKVCache(const ModelConfig& config, int32_t num_blocks, int32_t block_size);

  // Slot `slot` reads and writes through `block_table` until rebound or
  // cleared; the table must outlive the binding.
  void bind(int32_t slot, const std::vector<int32_t>* block_table);
  void clear_bindings() { slots_.clear(); }

  KVLayerView layer(int64_t layer) override;

  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }

 private:
  int64_t key_floats_, value_floats_, layers_;
  int32_t num_blocks_, block_size_;
  std::unique_ptr<float[]> storage_;
  std::vector<const std::vector<int32_t>*> slots_;
};

// Bytes of KV one token takes over all layers, at `bytes_per_value` per
// stored number (this cache stores f32: 4; a BF16 cache would take 2).
int64_t kv_bytes_per_token(const ModelConfig& config, int64_t bytes_per_value = sizeof(float));
// Bytes of KV one block holds for `config`.
int64_t kv_bytes_per_block(const ModelConfig& config, int32_t block_size);
// How many blocks fit in `budget_bytes`; throws Error when not even one does.
int32_t num_kv_blocks_for_budget(int64_t budget_bytes, const ModelConfig& config, int32_t block_size);
// Parses a KV memory budget flag: "<x>GiB", "<x>MiB" or "<x>%" of physical
// RAM (e.g. "8GiB", "30%"). Throws Error naming the flag value otherwise.
int64_t parse_kv_budget(std::string_view text);

}  // namespace strata
