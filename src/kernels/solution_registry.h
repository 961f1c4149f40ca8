#pragma once
// The one place kernels are chosen. Every kernel definition (a signature and
// its numerics, generic in its sizes; the FlashInfer-Trace definitions in
// kernels/definitions/ fix its shapes and name it in a strata_kernel tag) has solutions: a scalar reference and SIMD variants,
// some on another numeric path. All of them are listed in
// solution_registry.cpp.
//
// select(definition) is the solution the engine runs: among those the CPU can
// run within max_isa() (STRATA_KERNEL_ISA), on the definition's numeric path
// (its environment switch, e.g. STRATA_INT4_PATH, or its default), the one of
// the highest instruction set. Every definition is selected on the
// registry's first use, so a bad switch fails at the first kernel call; after
// that a selection only changes through select_path / force_solution (tests
// and benchmarks), never while kernels run.
//
// Each definition has one dispatch function that looks up its selection
// through a SelectedKernel and calls it (rmsnorm(), attention(), run_selected
// in int4_gemm.cpp, ...): the place a kernel workbench wraps to capture
// inputs or apply another solution.
#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/cpu_isa.h"

namespace strata {

// How a solution's numbers relate to the definition's: exact (f32
// arithmetic, only the summation order differs) or an approximation that a
// definition offers as a switch (w4a8: int8 activations for INT4 weights;
// bf16dot: bf16 activations for BF16 weights; f16fma: fp16 weights,
// activations and short sums for BF16 weights).
enum class NumericPath : uint8_t { Exact, W4A8, Bf16Dot, F16Fma };
std::string_view numeric_path_name(NumericPath path);

// A definition's name together with the function type of its solutions, so
// registering and calling a solution are type-checked.
template <typename Fn>
struct KernelDefinition {
  std::string_view name;
};

struct Solution {
  std::string_view definition;
  std::string_view name;  // unique over all definitions
  Isa isa;
  CpuFeatures needs;      // beyond `isa`
  NumericPath path;
  void (*fn)();           // the definition's function type, erased

  // The function, for a caller that names the definition it expects (throws
  // Error when the solution belongs to another).
  template <typename Fn>
  Fn kernel(KernelDefinition<Fn> def) const {
    if (def.name != definition) wrong_definition(def.name);
    return reinterpret_cast<Fn>(fn);
  }

 private:
  [[noreturn]] void wrong_definition(std::string_view asked) const;
};

// Every definition's name, and every solution, grouped by definition with
// the scalar reference first.
std::span<const std::string_view> kernel_definitions();
std::span<const Solution> all_solutions();
// Whether this CPU can run the solution (its ISA and features), whatever
// STRATA_KERNEL_ISA says.
bool solution_runs_here(const Solution& s);
// The solutions of one definition that run here, for tests and benchmarks
// that compare them (throws Error for an unknown name).
std::vector<const Solution*> runnable_solutions(std::string_view definition);
// The highest instruction set selection may use: the best supported, capped
// by STRATA_KERNEL_ISA=scalar|avx2|avx512 when set (an unknown value throws
// Error).
Isa max_isa();

// The selected solution of a definition (throws Error for an unknown name,
// an unknown value of its switch, or a path no solution can run here).
const Solution& select(std::string_view definition);
// Re-selects on `path` as the environment switch would: definitions whose
// path is a requirement (gemm_w4a16_g32) throw Error when no solution on it
// runs here; those whose path is a preference (gemm_bf16's bf16dot) fall back
// to their default.
void select_path(std::string_view definition, NumericPath path);
// Selects the named solution, which must belong to `definition` and run on
// this CPU (the STRATA_KERNEL_ISA cap does not apply to a named choice).
void force_solution(std::string_view definition, std::string_view name);
// The definitions that offer a choice of numeric paths (gemm_bf16,
// gemm_w4a16_g32), each with its selected solution: what `serve` logs at
// start-up and `generate --json` reports.
std::vector<std::pair<std::string_view, const Solution*>> numeric_path_selections();

// Where a definition's selection is kept; made (and selected) on first use.
const std::atomic<const Solution*>& selection_of(std::string_view definition);

// A dispatch function's handle on its definition's selection: resolving the
// name once, then one atomic load per call.
template <typename Fn>
class SelectedKernel {
 public:
  explicit SelectedKernel(KernelDefinition<Fn> def) : selection_(&selection_of(def.name)) {}
  Fn operator()() const { return reinterpret_cast<Fn>(solution()->fn); }
  const Solution* solution() const { return selection_->load(std::memory_order_acquire); }

 private:
  const std::atomic<const Solution*>* selection_;
};

}  // namespace strata
