#pragma once
// Reads every byte of every tensor a reader accepted, so a view reaching
// past the mapping is caught by ASan (or as SIGSEGV/SIGBUS). The sum is
// checked against the reader's own byte count so the loads stay.
#include <cstdint>
#include <cstdlib>

#include "formats/tensor_source.h"

namespace strata::fuzz {

inline void touch_tensors(const TensorSource& source) {
  for (const auto& [name, t] : source.tensors()) {
    uint64_t sum = 0;
    for (size_t i = 0; i < t.nbytes; ++i) sum += t.data[i];
    if (sum > uint64_t(255) * t.nbytes) std::abort();  // impossible: only here to use the loads
  }
}

}  // namespace strata::fuzz
