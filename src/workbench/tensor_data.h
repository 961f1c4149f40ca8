#pragma once
// A host tensor of a FlashInfer-Trace dtype, as the workbench passes kernel
// inputs and outputs around (an empty shape with one element is a scalar).
#include <cstdint>
#include <string>
#include <vector>

#include "workbench/definition.h"

namespace strata {

// Bytes per element of a FlashInfer-Trace dtype (float4_e2m1: 1, unpacked).
int64_t trace_dtype_bytes(const std::string& dtype);

struct TensorData {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  static TensorData zeros(const std::string& dtype, std::vector<int64_t> shape);
  int64_t numel() const;
  template <typename T>
  T* as() {
    return reinterpret_cast<T*>(bytes.data());
  }
  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(bytes.data());
  }
  // Element i as a double (float and integer dtypes).
  double value(int64_t i) const;
};

// A tensor's concrete shape under a workload's axis values.
std::vector<int64_t> concrete_shape(const DefinitionTensor& t, const Definition& def,
                                    const std::vector<std::pair<std::string, int64_t>>& var_axes);

}  // namespace strata
