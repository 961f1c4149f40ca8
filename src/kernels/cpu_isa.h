#pragma once
// Instruction-set levels the kernels are written for, the extensions some
// solutions need on top of a level, and which of them the running CPU
// supports. Capping the level (STRATA_KERNEL_ISA) is selection policy, in
// solution_registry.h.
#include <string_view>

namespace strata {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// Extensions beyond an Isa level.
struct CpuFeatures {
  bool vnni = false;  // AVX512-VNNI integer dot products (vpdpbusd)
  bool bf16 = false;  // AVX512-BF16 dot products (vdpbf16ps)
  bool fp16 = false;  // AVX512-FP16 arithmetic (vfmadd231ph)
};

std::string_view isa_name(Isa isa);
// Whether the CPU can run code of this level.
bool isa_supported(Isa isa);
// Whether the CPU has every extension in `needs`.
bool cpu_has(CpuFeatures needs);

}  // namespace strata
