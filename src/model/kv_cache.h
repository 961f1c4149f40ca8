#pragma once
// Where attention keeps keys and values: paged, per layer. A cache hands out
// one KVLayerView per layer; attention addresses rows through it (writes) and
// hands the view's block table and strides to the kernels (reads), so no
// per-row calls sit on the hot path. Position p of batch slot s lives in
// block tables[s][p / block_size], row p % block_size; the row holds
// row_floats values in the layout of the model's attention (GQA: the
// n_kv_heads * head_dim keys, and as many values value_offset floats further;
// MLA: the latent row, its first kv_lora_rank floats the value, value_offset 0).
// How wide a row is comes from the model (ModelConfig::kv_key_floats,
// kv_value_floats), so the bytes a token costs are per architecture.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata {

struct ModelConfig;
struct BatchRows;

struct KVLayerView {
  float* base = nullptr;  // this layer's rows in block 0
  int64_t block_stride = 0, row_floats = 0, value_offset = 0;
  int32_t block_size = 0, num_blocks = 0;
  int64_t layer = 0;
  // Per slot: its block table, null when unbound.
  const std::vector<int32_t>* const* tables = nullptr;
  int32_t n_slots = 0;

  // Slot's block table, checked to cover positions [0, n_positions) with
  // valid blocks; throws Error when the slot is unbound or its blocks end earlier.
  const std::vector<int32_t>& table(int32_t slot, int32_t n_positions) const;
  // Per slot, its block table checked once for the furthest of the rows'
  // positions (null for slots no row uses); throws Error for a row outside
  // the bound slots or a negative position.
  std::vector<const std::vector<int32_t>*> tables_for(int64_t n_rows, const int32_t* slots,
                                                      const int32_t* positions) const;
  // The key row of (slot, pos), checked as table(); its value row is value_offset further.
  float* key(int32_t slot, int32_t pos) const;
  // Unchecked: the key row of pos in a table that table() accepted.
  float* row(const std::vector<int32_t>& t, int32_t pos) const {
    return base + t[size_t(pos / block_size)] * block_stride + (pos % block_size) * row_floats;
  }
};

// The cached rows a batch's attention reads (per sequence, positions up to
// its furthest row), for the op profile's bytes.
int64_t cached_rows_read(const BatchRows& rows, int32_t n_slots);

class KVCache {
 public:
  virtual ~KVCache() = default;
  virtual KVLayerView layer(int64_t layer) = 0;
  // One checked row (tests, tools): layer(layer).key(slot, pos).
  float* key(int64_t layer_index, int32_t slot, int32_t pos);
  float* value(int64_t layer_index, int32_t slot, int32_t pos);
};

// One block of max_len rows per slot: the simplest backing.
class ContiguousKVCache : public KVCache {
 public:
  ContiguousKVCache(const ModelConfig& config, int32_t n_slots, int32_t max_len);
  KVLayerView layer(int64_t layer) override;
  int32_t max_len() const { return max_len_; }

 private:
  int64_t key_floats_ = 0, value_floats_ = 0, layers_ = 0;
  int32_t n_slots_, max_len_;
  std::vector<float> storage_;  // [slot][layer][keys [max_len][key row], values [max_len][value row]]
  std::vector<std::vector<int32_t>> tables_;  // slot s -> {s}
  std::vector<const std::vector<int32_t>*> table_ptrs_;
};

}  // namespace strata
