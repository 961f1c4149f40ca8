#pragma once
// Kinds of arithmetic a kernel does, by the instructions that set its rate:
// f32 FMAs, int8 dot products (vpdpbusd, vpmaddubsw), bf16 dot products
// (vdpbf16ps) and fp16 FMAs (vfmadd231ph). The op profile counts work per kind; kernels/compute_rates.h
// measures each kind's rate.
#include <array>
#include <cstddef>

namespace strata {

enum class Work : int { F32Fma, Int8Dot, Bf16Dot, F16Fma, kCount };
// Operations (multiplies and adds, each counted) per kind.
using WorkOps = std::array<double, size_t(Work::kCount)>;

}  // namespace strata
