#pragma once
// safetensors: an 8-byte little-endian header length, a JSON header mapping
// tensor names to {dtype, shape, data_offsets}, then the raw data.
// The reader checks that the header is valid JSON of that shape, that every
// tensor's byte range lies inside the data section, matches dtype x shape,
// and that ranges do not overlap.
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "formats/tensor_source.h"
#include "formats/tensor_writer.h"

namespace strata {

class SafetensorsFile : public TensorSource {
 public:
  explicit SafetensorsFile(const std::string& path);
  std::string describe() const override { return file_.path(); }

 private:
  MappedFile file_;
};

// Streams a safetensors file: declare all tensors, then write their bytes in
// declaration order. Writes "<path>.partial", renamed on finish().
class SafetensorsWriter final : public TensorWriter {
 public:
  explicit SafetensorsWriter(std::string path);
  ~SafetensorsWriter() override;
  void add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape) override;
  void write_data(const void* bytes, size_t n) override;
  void finish() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
