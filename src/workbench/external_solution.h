#pragma once
// Out-of-tree solutions at serve time: a kernel table entry that names a
// compiled out-of-tree solution (solution_abi.h) is loaded into the serving
// process and wrapped as a Solution of its kernel definition, so the
// kernel's dispatch point runs it for the entry's shape and bucket like a
// registry solution. Wrapped kernels: rmsnorm and gemm_bf16 (whose
// dispatch takes output-row ranges: each range is one call of the
// solution on those weight rows, from several threads at once, so it must
// be thread-safe). Unlike in the runner there is no child process: a
// solution that crashes takes the server down, which is why tables are
// opt-in and apply picks only solutions that PASSED.
#include <string>
#include <string_view>

#include "kernels/solution_registry.h"

namespace strata {

// Whether out-of-tree solutions of this kernel definition can be loaded.
bool external_solutions_supported(std::string_view kernel);

// dlopens `library`, wraps its C entry point `function` as a solution of
// `kernel` named `name`; the result lives for the process. Throws Error for
// an unsupported kernel, a library or symbol that does not load, or more
// than 8 loaded per kernel.
const Solution& load_external_solution(std::string_view kernel, const std::string& name, const std::string& library,
                                       const std::string& function);

}  // namespace strata
