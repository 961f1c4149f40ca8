#include "formats/sharded_safetensors_writer.h"

#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace strata {

namespace fs = std::filesystem;

namespace {

std::string module_of(const std::string& tensor) { return tensor.substr(0, tensor.rfind('.')); }

}  // namespace

ShardedSafetensorsWriter::ShardedSafetensorsWriter(fs::path dir, uint64_t shard_bytes)
    : dir_(std::move(dir)), shard_bytes_(shard_bytes) {
  if (shard_bytes_ == 0) fail("{}: the shard size must be positive", dir_.string());
}

ShardedSafetensorsWriter::~ShardedSafetensorsWriter() = default;

void ShardedSafetensorsWriter::add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  if (!files_.empty()) fail("{}: tensor '{}' declared after tensor data started", dir_.string(), name);
  if (dtype_info(dtype).block_elems != 1) {
    fail("{}: safetensors cannot store {} (tensor '{}')", dir_.string(), dtype_name(dtype), name);
  }
  const int64_t numel = checked_numel(shape);
  if (numel < 0) fail("{}: absurd shape for tensor '{}'", dir_.string(), name);
  tensors_.push_back({name, dtype, shape, uint64_t(dtype_bytes(dtype, numel))});
}

void ShardedSafetensorsWriter::plan_shards() {
  int shards = 0;
  uint64_t in_shard = 0;
  for (size_t i = 0; i < tensors_.size();) {
    size_t end = i + 1;
    uint64_t module_bytes = tensors_[i].bytes;
    const std::string module = module_of(tensors_[i].name);
    for (; end < tensors_.size() && module_of(tensors_[end].name) == module; ++end) module_bytes += tensors_[end].bytes;
    if (shards == 0 || (in_shard > 0 && in_shard + module_bytes > shard_bytes_)) {
      ++shards;
      in_shard = 0;
    }
    in_shard += module_bytes;
    for (; i < end; ++i) tensors_[i].shard = shards - 1;
  }
  shards = std::max(shards, 1);
  for (int s = 0; s < shards; ++s) {
    files_.push_back(shards == 1 ? "model.safetensors" : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards));
  }
  current_ = 0;
  left_ = tensors_.empty() ? 0 : tensors_[0].bytes;
}

void ShardedSafetensorsWriter::open_shard(int shard) {
  if (open_) open_->finish();
  open_ = std::make_unique<SafetensorsWriter>((dir_ / files_[size_t(shard)]).string());
  for (const Tensor& t : tensors_) {
    if (t.shard == shard) open_->add_tensor(t.name, t.dtype, t.shape);
  }
  open_shard_ = shard;
}

void ShardedSafetensorsWriter::advance() {
  while (current_ < tensors_.size()) {
    if (tensors_[current_].shard != open_shard_) open_shard(tensors_[current_].shard);
    if (left_ > 0) return;
    if (++current_ < tensors_.size()) left_ = tensors_[current_].bytes;
  }
}

void ShardedSafetensorsWriter::write_data(const void* bytes, size_t n) {
  if (files_.empty()) plan_shards();
  const auto* p = static_cast<const uint8_t*>(bytes);
  while (n > 0) {
    advance();
    if (current_ == tensors_.size()) fail("{}: more data written than the declared tensors hold", dir_.string());
    const size_t take = size_t(std::min<uint64_t>(n, left_));
    open_->write_data(p, take);
    p += take, n -= take, left_ -= take;
  }
}

void ShardedSafetensorsWriter::finish() {
  if (files_.empty()) plan_shards();
  advance();
  if (current_ < tensors_.size()) {
    fail("{}: tensor '{}' and {} after it were declared but not written", dir_.string(), tensors_[current_].name,
         tensors_.size() - current_ - 1);
  }
  if (!open_) open_shard(0);  // no tensors: one empty file
  open_->finish();
  open_.reset();
  if (files_.size() == 1) return;
  nlohmann::json weight_map = nlohmann::json::object();
  uint64_t total = 0;
  for (const Tensor& t : tensors_) {
    weight_map[t.name] = files_[size_t(t.shard)];
    total += t.bytes;
  }
  const fs::path index = dir_ / "model.safetensors.index.json";
  std::ofstream f(index);
  f << nlohmann::json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump(2) << "\n";
  f.close();
  if (!f) fail("{}: write failed", index.string());
}

}  // namespace strata
