#pragma once
// The C ABI of out-of-tree solutions, as the runner compiles them. The same
// text is written next to a solution's sources as "strata_solution.h".
// (flashinfer-bench's C++ solutions use TVM-FFI instead; strata has no
// TVM, so its native solutions take plain C structs.)
#include <cstdint>

extern "C" {
struct strata_tensor {
  void* data;
  const int64_t* shape;
  int32_t ndim;
  const char* dtype;  // a FlashInfer-Trace dtype name
};
using strata_solution_entry = int (*)(const strata_tensor* inputs, int32_t n_inputs, strata_tensor* outputs,
                                      int32_t n_outputs);
}

namespace strata {

inline constexpr const char* kSolutionAbiHeader = R"H(/* strata_solution.h: the C ABI of a strata kernel-workbench solution.
 * The entry point named by the solution's spec.entry_point ("file::function")
 * is called with the definition's inputs in its order (a scalar is a 0-d
 * tensor: float32 for float scalars, int64 for integer ones), then its
 * outputs, preallocated (destination-passing style). Return 0 on success;
 * any other value is reported as RUNTIME_ERROR. */
#ifndef STRATA_SOLUTION_H
#define STRATA_SOLUTION_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct strata_tensor {
  void* data;
  const int64_t* shape;
  int32_t ndim;
  const char* dtype;
} strata_tensor;
#ifdef __cplusplus
}
#endif
#endif
)H";

}  // namespace strata
