#pragma once
// Facts of the GGUF v3 format shared by the reader and the writer
// (see the GGUF specification in the ggml repository, docs/gguf.md).
#include <cstdint>
#include <optional>

#include "core/dtype.h"

namespace strata::gguf {

inline constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr uint32_t kVersion = 3;
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr uint32_t kMaxDims = 4;
inline constexpr size_t kMaxNameLength = 63;  // llama.cpp's GGML_MAX_NAME - 1

// Metadata value types.
enum ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

inline bool is_int_type(uint32_t t) {
  return t <= kI32 || t == kU64 || t == kI64;
}
inline bool is_float_type(uint32_t t) { return t == kF32 || t == kF64; }

// The ggml tensor types strata stores, by their GGUF type id.
inline std::optional<DType> dtype_from_ggml(uint32_t id) {
  switch (id) {
    case 0: return DType::F32;
    case 1: return DType::F16;
    case 2: return DType::Q4_0;
    case 8: return DType::Q8_0;
    case 24: return DType::I8;
    case 25: return DType::I16;
    case 26: return DType::I32;
    case 27: return DType::I64;
    case 30: return DType::BF16;
    default: return std::nullopt;
  }
}
inline std::optional<uint32_t> ggml_from_dtype(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 8;
    case DType::I8: return 24;
    case DType::I16: return 25;
    case DType::I32: return 26;
    case DType::I64: return 27;
    case DType::BF16: return 30;
    case DType::U8:
    case DType::BOOL:
    case DType::F8_E4M3: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace strata::gguf
