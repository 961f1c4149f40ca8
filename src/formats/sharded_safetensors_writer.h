#pragma once
// A Hugging Face model's weights as safetensors shards, named as
// transformers names them ("model-00001-of-00003.safetensors", or
// "model.safetensors" when one shard holds everything), with
// "model.safetensors.index.json" (total_size and the tensor -> file map)
// when there is more than one. A shard takes modules in declaration order
// while they fit in shard_bytes; a module (the tensors whose names share
// everything up to the last '.', such as an INT4 module's packed words,
// scales and shape) is never split, and one larger than shard_bytes gets a
// shard of its own.
#include <filesystem>
#include <memory>

#include "formats/safetensors.h"
#include "formats/tensor_writer.h"

namespace strata {

class ShardedSafetensorsWriter final : public TensorWriter {
 public:
  // `dir` must exist; the files appear in it as each shard is finished.
  ShardedSafetensorsWriter(std::filesystem::path dir, uint64_t shard_bytes);
  ~ShardedSafetensorsWriter() override;
  void add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape) override;
  void write_data(const void* bytes, size_t n) override;
  // Throws Error when declared bytes were not all written.
  void finish() override;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t bytes;
    int shard = 0;
  };
  void plan_shards();
  void open_shard(int shard);
  // Moves past the written (and the empty) tensors, opening their shards.
  void advance();

  std::filesystem::path dir_;
  uint64_t shard_bytes_;
  std::vector<Tensor> tensors_;
  std::vector<std::string> files_;  // empty until the first write: the plan is fixed then
  std::unique_ptr<SafetensorsWriter> open_;
  int open_shard_ = -1;
  size_t current_ = 0;       // the tensor being written
  uint64_t left_ = 0;        // its bytes still to come
};

}  // namespace strata
