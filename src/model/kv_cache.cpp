#include "model/kv_cache.h"

#include <algorithm>

#include "core/error.h"
#include "model/batch_rows.h"
#include "model/config.h"

namespace strata {

int64_t cached_rows_read(const BatchRows& rows, int32_t n_slots) {
  std::vector<int64_t> reach(size_t(n_slots), 0);
  for (int64_t t = 0; t < rows.n_tokens; ++t) {
    int64_t& r = reach[size_t(rows.seq_slots[t])];
    r = std::max<int64_t>(r, rows.positions[t] + 1);
  }
  int64_t total = 0;
  for (int64_t r : reach) total += r;
  return total;
}

const std::vector<int32_t>& KVLayerView::table(int32_t slot, int32_t n_positions) const {
  if (slot < 0 || slot >= n_slots || tables[slot] == nullptr) fail("KV cache: slot {} is not bound to a sequence", slot);
  const std::vector<int32_t>& t = *tables[slot];
  if (n_positions < 0 || (int64_t(n_positions) + block_size - 1) / block_size > int64_t(t.size())) {
    fail("KV cache: (layer {}, slot {}) needs {} positions but has {} reserved", layer, slot, n_positions,
         t.size() * size_t(block_size));
  }
  for (int64_t b = 0; b * block_size < n_positions; ++b) {
    if (t[size_t(b)] < 0 || t[size_t(b)] >= num_blocks) fail("KV cache: slot {} maps to invalid block {}", slot, t[size_t(b)]);
  }
  return t;
}

std::vector<const std::vector<int32_t>*> KVLayerView::tables_for(int64_t n_rows, const int32_t* slots,
                                                                  const int32_t* positions) const {
  std::vector<int32_t> reach(size_t(n_slots), 0);
  for (int64_t t = 0; t < n_rows; ++t) {
    const int32_t slot = slots[t], pos = positions[t];
    if (slot < 0 || slot >= n_slots || pos < 0) {
      fail("KV cache: row {} (slot {}, position {}) is outside the {} bound slots", t, slot, pos, n_slots);
    }
    reach[size_t(slot)] = std::max(reach[size_t(slot)], pos + 1);
  }
  std::vector<const std::vector<int32_t>*> out(size_t(n_slots), nullptr);
  for (int32_t slot = 0; slot < n_slots; ++slot) {
    if (reach[size_t(slot)] > 0) out[size_t(slot)] = &table(slot, reach[size_t(slot)]);
  }
  return out;
}

float* KVLayerView::key(int32_t slot, int32_t pos) const {
  if (pos < 0) fail("KV cache: negative position {}", pos);
  return row(table(slot, pos + 1), pos);
}

float* KVCache::key(int64_t layer_index, int32_t slot, int32_t pos) { return layer(layer_index).key(slot, pos); }

float* KVCache::value(int64_t layer_index, int32_t slot, int32_t pos) {
  const KVLayerView view = layer(layer_index);
  return view.key(slot, pos) + view.value_offset;
}

ContiguousKVCache::ContiguousKVCache(const ModelConfig& config, int32_t n_slots, int32_t max_len)
    : key_floats_(config.kv_key_floats()),
      value_floats_(config.kv_value_floats()),
      layers_(config.num_hidden_layers),
      n_slots_(n_slots),
      max_len_(max_len) {
  if (n_slots <= 0 || max_len <= 0) fail("KV cache: need at least one slot and one position");
  storage_.assign(size_t(n_slots) * size_t(layers_) * size_t(max_len) * size_t(key_floats_ + value_floats_), 0.0f);
  for (int32_t s = 0; s < n_slots; ++s) tables_.push_back({s});
  for (const auto& t : tables_) table_ptrs_.push_back(&t);
}

KVLayerView ContiguousKVCache::layer(int64_t layer) {
  if (layer < 0 || layer >= layers_) fail("KV cache: layer {} is outside {} layers", layer, layers_);
  const int64_t per_layer = int64_t(max_len_) * (key_floats_ + value_floats_);
  const int64_t value_offset = value_floats_ > 0 ? int64_t(max_len_) * key_floats_ : 0;
  return {storage_.data() + layer * per_layer, layers_ * per_layer, key_floats_, value_offset, max_len_, n_slots_, layer,
          table_ptrs_.data(), n_slots_};
}

}  // namespace strata
