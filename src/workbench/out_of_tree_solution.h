#pragma once
// An out-of-tree solution (language "cpp": C or C++ sources with a C-ABI
// entry point, solution_abi.h) compiled with the system compiler into a
// shared library under `build_dir`, and loaded where it runs (the runner's
// child process), so a crash or a hang cannot take strata down.
#include <optional>
#include <string>

#include "workbench/runnable_solution.h"
#include "workbench/solution_abi.h"
#include "workbench/solution.h"

namespace strata {

struct CompiledSolution {
  std::optional<RunnableSolution> runnable;  // empty when it did not build
  std::string log;                            // the compiler's output
  std::string library, function;              // the shared library and its entry point, when built
};

// `cc`/`c++` with -O3 -march=native -shared -fPIC; reuses a library built
// from the same sources.
CompiledSolution compile_solution(const TraceSolution& s, const std::string& build_dir);

// dlopens a built library and returns its C entry point `function` (the
// library stays loaded for the process); throws Error naming what failed.
strata_solution_entry load_entry(const std::string& library, const std::string& function);

}  // namespace strata
