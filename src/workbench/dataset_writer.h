#pragma once
// Writing into a FlashInfer-Trace dataset folder, at the places dataset.h
// reads: definitions and solutions as pretty JSON files, workloads and
// traces appended as compact JSONL lines.
#include <string>
#include <vector>

#include "workbench/definition.h"
#include "workbench/solution.h"
#include "workbench/trace.h"

namespace strata {

void write_definition(const std::string& root, const Definition& def);
void write_solution(const std::string& root, const std::string& op_type, const TraceSolution& s);
// Workload-only traces of `def` (solution and evaluation null).
void append_workloads(const std::string& root, const Definition& def, const std::vector<Workload>& workloads);
// Copies the blobs the workloads' safetensors inputs name from dataset
// `from` to dataset `to`, so that workloads appended there stand on their own.
void copy_workload_blobs(const std::string& from, const std::string& to, const std::vector<Workload>& workloads);
// Traces of `def` by the solutions of `author`.
void append_traces(const std::string& root, const Definition& def, const std::string& author,
                   const std::vector<Trace>& traces);

}  // namespace strata
