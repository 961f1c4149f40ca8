#pragma once
// Index tensors of a workload (page tables, expert ids) that random draws
// cannot make valid, written as one safetensors blob of the dataset at
// upstream's path, blob/workloads/<op_type>/<definition>/<definition>_<uuid>.safetensors.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "workbench/trace.h"

namespace strata {

struct IndexTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<int32_t> values;
};

// Writes the blob under `root` and returns the workload's inputs in the
// definition's order: the index tensors from the blob, Python scalars set
// to `scalar`, every other input random.
std::vector<std::pair<std::string, WorkloadInput>> write_index_blob(const Definition& def, const std::string& uuid,
                                                                   const std::vector<IndexTensor>& index,
                                                                   const std::string& root, double scalar);

}  // namespace strata
