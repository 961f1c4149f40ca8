#include "engine/paged_kv_cache.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <string>

#include "core/check.h"
#include "core/error.h"
#include "model/config.h"

namespace strata {

PagedKVCache::PagedKVCache(const ModelConfig& config, int32_t num_blocks, int32_t block_size)
    : key_floats_(config.kv_key_floats()),
      value_floats_(config.kv_value_floats()),
      layers_(config.num_hidden_layers),
      num_blocks_(num_blocks),
      block_size_(block_size) {
  if (num_blocks <= 0 || block_size <= 0) fail("KV cache: need a positive number of blocks and block size");
  // new float[] leaves the memory untouched (no zeroing), so the OS maps pages lazily.
  storage_.reset(new float[size_t(num_blocks) * size_t(layers_) * size_t(block_size) *
                           size_t(key_floats_ + value_floats_)]);
}

void PagedKVCache::bind(int32_t slot, const std::vector<int32_t>* block_table) {
  check(slot >= 0, "KV slots are non-negative", "slot {}", slot);
  if (size_t(slot) >= slots_.size()) slots_.resize(size_t(slot) + 1, nullptr);
  slots_[size_t(slot)] = block_table;
}

KVLayerView PagedKVCache::layer(int64_t layer) {
  check(layer >= 0 && layer < layers_, "a KV layer index is within the model's layers", "layer {} of {}", layer, layers_);
  const int64_t per_layer = int64_t(block_size_) * (key_floats_ + value_floats_);
  const int64_t value_offset = value_floats_ > 0 ? int64_t(block_size_) * key_floats_ : 0;
  return {storage_.get() + layer * per_layer, layers_ * per_layer, key_floats_, value_offset,
          block_size_, num_blocks_, layer, slots_.data(), int32_t(slots_.size())};
}

int64_t kv_bytes_per_token(const ModelConfig& config, int64_t bytes_per_value) {
  return bytes_per_value * config.num_hidden_layers * (config.kv_key_floats() + config.kv_value_floats());
}

int64_t kv_bytes_per_block(const ModelConfig& config, int32_t block_size) {
  return kv_bytes_per_token(config) * block_size;
}

int32_t num_kv_blocks_for_budget(int64_t budget_bytes, const ModelConfig& config, int32_t block_size) {
  const int64_t per_block = kv_bytes_per_block(config, block_size);
  const int64_t blocks = per_block > 0 ? budget_bytes / per_block : 0;
  if (blocks < 1) {
    fail("KV cache: a budget of {} bytes holds no block ({} bytes each); raise the KV memory budget", budget_bytes,
         per_block);
  }
  return int32_t(std::min<int64_t>(blocks, INT32_MAX));
}

int64_t parse_kv_budget(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view unit = text.substr(size_t(end - text.data()));
  double bytes = -1;
  if (ec == std::errc() && value > 0 && std::isfinite(value)) {
    if (unit == "GiB" || unit == "G") bytes = value * double(1ll << 30);
    if (unit == "MiB" || unit == "M") bytes = value * double(1ll << 20);
    if (unit == "%" && value <= 100) {
      bytes = value / 100.0 * double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
    }
  }
  if (bytes < 1) fail("KV cache budget '{}': expected e.g. 8GiB, 512MiB or 30% (of RAM)", text);
  return int64_t(bytes);
}

}  // namespace strata
