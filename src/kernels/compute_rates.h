#pragma once
// The machine's arithmetic rates, measured the way the kernels compute: per
// kind of work (core/op_profile.h's Work), independent multiply-add chains
// of the widest instructions the selected kernels use (within max_isa()), on
// every thread of the global pool at once. They are the baseline a prompt
// pass is held to (its work at these rates is the fastest it can be), as
// the read bandwidth is decode's. On a shared machine the rates move, so
// callers measure them next to the timing they compare them with.
#include <array>
#include <cstdint>

#include "core/work.h"

namespace strata {

struct ComputeRates {
  // Operations (multiplies and adds, each counted) per second; 0 where the
  // CPU or the ISA cap has no instructions for that kind.
  WorkOps ops_per_second{};
};

// The median of `repeats` (at least 1) measurements of a few ms each.
ComputeRates measure_compute_rates(int repeats = 3);

// The seconds `ops` (per kind) take at `rates`: the kinds run on the same
// execution ports, so their times add. Work of a kind the rates lack counts
// nothing.
double compute_limit_seconds(const WorkOps& ops, const ComputeRates& rates);

// Whether gemm_bf16's bf16dot path is worth its rounding on this CPU. Its
// vdpbf16ps needs no widening of the weights, while the exact path's GEMMs
// spend a widening uop per few FMAs (at most 0.75 of the f32 FMA rate), so
// bf16dot is the default where the CPU's bf16 dot products run faster than
// its f32 FMAs (ops counted alike; a tie goes to exact, whose numerics are
// closer): about twice on the AMD EPYC host (bf16dot GEMMs 1.8x exact's),
// half on the Intel Xeon of 2026-11-29 (vdpbf16ps one per ~2.2 cycles).
// Decode's GEMVs read the same bytes either way.
bool bf16_dot_pays(double bf16_dot_ops_per_second, double f32_fma_ops_per_second);
// bf16_dot_pays with both rates measured once per process on the calling
// thread (the AVX-512 loops, best of three alternating runs, ~5 ms in all);
// false without AVX512-BF16.
bool bf16_dot_pays_here();

// Whether gemm_bf16's f16fma path is worth taking on this CPU: where its
// fp16 FMAs run at least 1.25x f32 FMAs (ops counted alike). Its GEMM adds
// about one f32 flush per 8 fp16 FMAs and needs no widening, so it beats
// the exact path's GEMMs once fp16 FMAs are clearly faster: on the Intel
// Xeon of 2026-11-30, fp16 FMAs issue as fast as f32 ones with twice the
// lanes and its GEMMs ran 1.6-1.9x exact's.
bool f16_fma_pays(double f16_fma_ops_per_second, double f32_fma_ops_per_second);
// f16_fma_pays with both rates measured once per process on the calling
// thread, as bf16_dot_pays_here; false without AVX512-FP16.
bool f16_fma_pays_here();

// The measuring loops: `rounds` rounds on the calling thread; each returns
// the operations it did. Defined per ISA in compute_rates*.cpp.
double f32_fma_loop_scalar(int64_t rounds);
double f32_fma_loop_avx2(int64_t rounds);
double f32_fma_loop_avx512(int64_t rounds);
double int8_dot_loop_avx2(int64_t rounds);
double int8_dot_loop_avx512_vnni(int64_t rounds);
double bf16_dot_loop_avx512_bf16(int64_t rounds);
double f16_fma_loop_avx512fp16(int64_t rounds);

}  // namespace strata
