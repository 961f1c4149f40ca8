#include "core/dtype.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace strata {

const DTypeInfo& dtype_info(DType t) {
  static const DTypeInfo table[] = {
      {"F32", 1, 4},   {"F16", 1, 2},  {"BF16", 1, 2}, {"Q8_0", 32, 34},
      {"Q4_0", 32, 18}, {"I8", 1, 1},  {"I16", 1, 2},  {"I32", 1, 4},
      {"I64", 1, 8},   {"U8", 1, 1},   {"BOOL", 1, 1}, {"F8_E4M3", 1, 1},
  };
  return table[static_cast<int>(t)];
}

int64_t dtype_bytes(DType t, int64_t n) {
  const auto& info = dtype_info(t);
  if (n < 0 || n % info.block_elems != 0) return -1;
  return n / info.block_elems * info.block_bytes;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: value = man * 2^-24
      float f = std::ldexp(float(man), -24);
      std::memcpy(&u, &f, 4);
      u |= sign;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void store_float(DType dtype, float v, uint8_t* base, int64_t index) {
  switch (dtype) {
    case DType::F32: std::memcpy(base + 4 * index, &v, 4); return;
    case DType::BF16: {
      const uint16_t h = f32_to_bf16(v);
      std::memcpy(base + 2 * index, &h, 2);
      return;
    }
    case DType::F16: {
      const uint16_t h = f32_to_f16(v);
      std::memcpy(base + 2 * index, &h, 2);
      return;
    }
    default: fail("cannot store a float as {}", dtype_name(dtype));
  }
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00;  // overflow to inf (rounds past 65504)
  if (abs < 0x38800000u) {                       // subnormal or zero in f16
    float a;
    std::memcpy(&a, &abs, 4);
    return sign | uint16_t(std::nearbyint(a * 16777216.0f));  // a / 2^-24, ties to even
  }
  // Normal: rebias exponent and round mantissa to nearest even.
  uint32_t r = abs - (112u << 23);
  r += 0xfffu + ((r >> 13) & 1);
  return sign | uint16_t(r >> 13);
}

float fp8_e4m3_to_f32(uint8_t code) {
  const float sign = code & 0x80 ? -1.0f : 1.0f;
  const int exp = (code >> 3) & 0x0f, man = code & 0x07;
  if (exp == 0x0f && man == 0x07) return std::numeric_limits<float>::quiet_NaN();
  if (exp == 0) return sign * std::ldexp(float(man), -9);  // subnormal: man/8 * 2^-6
  return sign * std::ldexp(float(8 + man), exp - 10);      // (1 + man/8) * 2^(exp-7)
}

uint8_t f32_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  // The representable values are multiples of a step that depends only on
  // the binade (2^-9 for subnormals and the first normal binade), so
  // rounding to the step with nearbyint rounds to nearest even.
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  const int step_exp = std::max(e - 1, -6) - 3;
  const float q = std::nearbyint(std::ldexp(a, -step_exp));  // a in steps, at most 16
  const float v = std::ldexp(q, step_exp);
  // Re-encode the rounded value (it may have moved up a binade).
  if (v == 0) return sign;
  int ve;
  std::frexp(v, &ve);
  if (ve - 1 < -6) return sign | uint8_t(std::ldexp(v, 9));  // subnormal: v / 2^-9
  const int exp = ve - 1 + 7;
  const int man = int(std::ldexp(v, -(ve - 1)) * 8.0f) - 8;
  return sign | uint8_t(exp << 3) | uint8_t(man);
}

}  // namespace strata
