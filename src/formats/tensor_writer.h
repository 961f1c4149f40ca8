#pragma once
// A weights file written as a stream: every tensor is declared first, then
// the bytes of each are written in declaration order.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace strata {

class TensorWriter {
 public:
  virtual ~TensorWriter() = default;
  virtual void add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape) = 0;
  virtual void write_data(const void* bytes, size_t n) = 0;
  virtual void finish() = 0;
};

}  // namespace strata
