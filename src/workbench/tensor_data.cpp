#include "workbench/tensor_data.h"

#include <cstring>

#include "core/dtype.h"
#include "core/error.h"

namespace strata {

int64_t trace_dtype_bytes(const std::string& dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "float16" || dtype == "bfloat16" || dtype == "int16") return 2;
  if (dtype == "int64") return 8;
  if (dtype == "float8_e4m3fn" || dtype == "float8_e5m2" || dtype == "float4_e2m1" || dtype == "int8" || dtype == "bool") {
    return 1;
  }
  fail("unknown FlashInfer-Trace dtype '{}'", dtype);
}

TensorData TensorData::zeros(const std::string& dtype, std::vector<int64_t> shape) {
  TensorData t{dtype, std::move(shape), {}};
  t.bytes.assign(size_t(t.numel() * trace_dtype_bytes(dtype)), 0);
  return t;
}

int64_t TensorData::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

double TensorData::value(int64_t i) const {
  if (dtype == "float32") return as<float>()[i];
  if (dtype == "bfloat16") return bf16_to_f32(as<uint16_t>()[i]);
  if (dtype == "float16") return f16_to_f32(as<uint16_t>()[i]);
  if (dtype == "float8_e4m3fn") return fp8_e4m3_to_f32(as<uint8_t>()[i]);
  if (dtype == "int64") return double(as<int64_t>()[i]);
  if (dtype == "int32") return as<int32_t>()[i];
  if (dtype == "int16") return as<int16_t>()[i];
  if (dtype == "int8") return as<int8_t>()[i];
  if (dtype == "bool") return as<uint8_t>()[i] != 0;
  fail("cannot read {} elements", dtype);
}

std::vector<int64_t> concrete_shape(const DefinitionTensor& t, const Definition& def,
                                    const std::vector<std::pair<std::string, int64_t>>& var_axes) {
  std::vector<int64_t> shape;
  for (const std::string& name : t.shape.value_or(std::vector<std::string>{})) {
    const DefinitionAxis* a = def.axis(name);
    if (a->is_const) {
      shape.push_back(a->value);
      continue;
    }
    auto it = std::find_if(var_axes.begin(), var_axes.end(), [&](const auto& p) { return p.first == name; });
    if (it == var_axes.end()) fail("{}: no value for axis '{}'", def.name, name);
    shape.push_back(it->second);
  }
  return shape;
}

}  // namespace strata
