#pragma once
// Element types of stored tensors, and the 16-bit and 8-bit float conversions.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace strata {

// F8_E4M3 is float8_e4m3fn: 1 sign, 4 exponent bits (bias 7), 3 mantissa
// bits, no infinities; 0x7f and 0xff are NaN, the largest value is 448.
enum class DType : uint8_t { F32, F16, BF16, Q8_0, Q4_0, I8, I16, I32, I64, U8, BOOL, F8_E4M3 };

// Block-quantized types store `block_elems` weights in `block_bytes` bytes;
// plain types have block_elems == 1.
struct DTypeInfo {
  std::string_view name;
  int block_elems;
  int block_bytes;
};
const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }

// Bytes taken by `n` elements, or -1 when n is not a whole number of blocks.
int64_t dtype_bytes(DType t, int64_t n);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t f32_to_bf16(float f) {  // round to nearest even, NaN kept NaN
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
// Stores v as element `index` of an F32, F16 or BF16 array at `base`
// (rounding to nearest even); other dtypes throw Error.
void store_float(DType dtype, float v, uint8_t* base, int64_t index);
// float8_e4m3fn: decoding is exact; encoding rounds to nearest even and
// saturates to +-448 (as torch's saturating casts and FP8 quantizers do);
// NaN stays NaN.
float fp8_e4m3_to_f32(uint8_t code);
uint8_t f32_to_fp8_e4m3(float f);

}  // namespace strata
