#include "kernels/cpu_isa.h"

#include <cpuid.h>

namespace strata {

namespace {

// CPUID leaf 1, ECX bit 29: clang's __builtin_cpu_supports does not know "f16c".
bool has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             has_f16c();
    case Isa::Avx512:
      return isa_supported(Isa::Avx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq");
  }
  return false;
}

bool cpu_has(CpuFeatures needs) {
  return (!needs.vnni || __builtin_cpu_supports("avx512vnni")) &&
         (!needs.bf16 || __builtin_cpu_supports("avx512bf16")) && (!needs.fp16 || __builtin_cpu_supports("avx512fp16"));
}

}  // namespace strata
