#pragma once
// Per-shape solution choices: a kernel table (`strata kernels apply`) loaded
// by `strata serve --kernel-table` says, for a kernel definition, a shape
// (its constant sizes, e.g. a GEMM's N and K) and a token-count bucket,
// which solution to run. A call that no choice matches runs the
// definition's selection (solution_registry.h), as it does when no table is
// loaded; then the dispatch cost is one relaxed atomic load.
//
// Choosing per token count means a row's result can depend on the batch it
// is in (solutions differ in summation order), so tables are off by default.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "kernels/solution_registry.h"

namespace strata {

// Throws Error when the solution is unknown, belongs to another definition
// or does not run on this CPU. Calls with up to `max_tokens` tokens (and more
// than the next smaller bucket's) take it.
void add_shape_choice(std::string_view definition, std::vector<int64_t> shape, int64_t max_tokens,
                      std::string_view solution);
// The same with a solution that is not in the registry (an out-of-tree one
// loaded at run time), which must outlive the choices.
void add_shape_choice(std::string_view definition, std::vector<int64_t> shape, int64_t max_tokens,
                      const Solution& solution);
void clear_shape_choices();
bool any_shape_choices();
// The chosen solution for this call, or nullptr.
const Solution* shape_choice(std::string_view definition, std::span<const int64_t> shape, int64_t tokens);
// Every solution chosen for this shape, whatever the token count.
std::vector<const Solution*> shape_choices_for(std::string_view definition, std::span<const int64_t> shape);

// The dispatch form: the choice when one matches, else the selection.
template <typename Fn>
const Solution* choose(const SelectedKernel<Fn>& selected, KernelDefinition<Fn> def, std::span<const int64_t> shape,
                       int64_t tokens) {
  if (any_shape_choices()) {
    if (const Solution* s = shape_choice(def.name, shape, tokens)) return s;
  }
  return selected.solution();
}

}  // namespace strata
