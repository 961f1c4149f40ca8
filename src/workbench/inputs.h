#pragma once
// A workload's inputs as tensors: safetensors blobs read from the dataset,
// scalars as given, "random" ones drawn per trial. Random draws follow
// flashinfer-bench's generator where that gives valid data (normal floats,
// fp8 from normals) and differ where it would not: packed INT4 words take
// any 32 bits, token positions count up, and expert ids are distinct and in
// range; page tables and other index tensors must come from the workload.
#include <cstdint>
#include <string>
#include <vector>

#include "workbench/tensor_data.h"
#include "workbench/trace.h"

namespace strata {

// Throws Error naming the input when it cannot be made (a random index
// tensor, a missing or mismatched blob).
std::vector<TensorData> make_inputs(const Definition& def, const Workload& w, uint64_t seed, const std::string& dataset_root);

// Workloads for a definition that has none captured: every var axis set to
// n for each n in `sizes`, every input random. Only for definitions whose
// inputs make_inputs can draw (no page tables); empty otherwise.
std::vector<Workload> synthetic_workloads(const Definition& def, const std::vector<int64_t>& sizes);

}  // namespace strata
