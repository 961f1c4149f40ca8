// f16/bf16 conversions: hand-computed values at the edges (rounding ties,
// subnormals, overflow, inf/NaN), an exhaustive f16 -> f32 -> f16 round trip,
// and f32 -> f16 checked against the CPU's own conversion (F16C).
#include <gtest/gtest.h>
#include <immintrin.h>

#include <bit>
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/cpu_isa.h"

using namespace strata;

namespace {

bool is_f16_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

// The reference conversion, round to nearest even in hardware. Not a
// compiler half type: clang 14 has no _Float16 on x86, and its __fp16
// conversion needs compiler-rt, which the sanitized build does not link.
__attribute__((target("f16c"))) uint16_t f16c_f32_to_f16(float f) {
  return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

}  // namespace

TEST(DType, BytesAndBlocks) {
  EXPECT_EQ(dtype_bytes(DType::F32, 10), 40);
  EXPECT_EQ(dtype_bytes(DType::BF16, 3), 6);
  EXPECT_EQ(dtype_bytes(DType::Q8_0, 64), 68);
  EXPECT_EQ(dtype_bytes(DType::Q4_0, 32), 18);
  EXPECT_EQ(dtype_bytes(DType::Q4_0, 33), -1);
  EXPECT_EQ(dtype_bytes(DType::I64, -1), -1);
  EXPECT_EQ(dtype_name(DType::BOOL), "BOOL");
}

TEST(DType, F16ToF32HandValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);               // largest finite
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(f16_to_f32(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_to_f32(0x2e66), 0.0999755859375f);
  EXPECT_EQ(f16_to_f32(0x7c00), INFINITY);
  EXPECT_EQ(f16_to_f32(0xfc00), -INFINITY);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0xfc01)));
  EXPECT_EQ(f16_to_f32(0x8000), 0.0f);
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

TEST(DType, F32ToF16HandValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.1f), 0x2e66);
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  // Ties round to even: 1 + 2^-11 is halfway between 0x3c00 and 0x3c01.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  // Mantissa carry into the exponent: just under 2 rounds up to 2.
  EXPECT_EQ(f32_to_f16(std::nextafter(2.0f, 0.0f)), 0x4000);
  // Overflow: 65520 is halfway between 65504 (odd mantissa) and 65536 -> inf.
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e6f), 0xfc00);
  EXPECT_EQ(f32_to_f16(INFINITY), 0x7c00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_TRUE(is_f16_nan(f32_to_f16(NAN)));
  EXPECT_TRUE(is_f16_nan(f32_to_f16(std::bit_cast<float>(0x7f800001u))));  // payload only in low bits
  // Subnormals: 2^-24 is one unit; 2^-25 ties to 0; 3 * 2^-25 ties to 2 units.
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);
  EXPECT_EQ(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -24)), 0x8001);
  // Largest subnormal + half a unit ties up to the smallest normal (even).
  EXPECT_EQ(f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);
  EXPECT_EQ(f32_to_f16(std::ldexp(2045.0f, -25)), 0x03fe);
}

TEST(DType, F16RoundTripAllBitPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    const uint16_t back = f32_to_f16(f);
    if (is_f16_nan(uint16_t(h))) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      ASSERT_TRUE(is_f16_nan(back)) << std::hex << h;
      ASSERT_EQ(back & 0x8000, h & 0x8000) << std::hex << h;
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
    }
  }
}

TEST(DType, F32ToF16MatchesF16c) {
  ASSERT_TRUE(isa_supported(Isa::Avx2)) << "the reference conversion needs F16C (part of the AVX2 level)";
  // A deterministic sample of ~16.7M f32 bit patterns across the whole range.
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 257) {
    const float f = std::bit_cast<float>(uint32_t(u));
    const uint16_t ours = f32_to_f16(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(is_f16_nan(ours)) << std::hex << u;
      continue;
    }
    ASSERT_EQ(ours, f16c_f32_to_f16(f)) << std::hex << u;
  }
}

TEST(DType, BF16) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie -> even
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::bit_cast<float>(0x7f800001u)))));
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(uint16_t(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
    }
  }
}
