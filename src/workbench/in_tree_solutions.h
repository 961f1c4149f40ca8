#pragma once
// strata's own kernels as solutions of the dataset's definitions: a
// definition tagged strata_kernel:<name> is solved by every registry
// solution of that kernel definition that runs on this CPU, called on the
// calling thread over the whole output, named "<definition>__<registry
// solution>" (names are unique over a dataset). A strata_path tag keeps the
// solutions of one numeric path (exact, w4a8). The first by instruction set
// (the scalar reference where the path has one) comes first, with author
// "baseline" (the runner's correctness and speed reference); the others have
// author "strata".
#include <vector>

#include "workbench/definition.h"
#include "workbench/runnable_solution.h"

namespace strata {

// Empty when the definition has no strata_kernel tag or its kernel has no
// adapter here yet (paged attention, MLA, FP8 GEMM, the MoE FFN, routers).
std::vector<RunnableSolution> in_tree_solutions(const Definition& def);

}  // namespace strata
