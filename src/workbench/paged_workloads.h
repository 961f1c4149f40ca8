#pragma once
// Workloads of the paged-attention definitions (gqa_paged, mla_paged): their
// page tables (kv_indptr, kv_indices, kv_last_page_len, and qo_indptr for
// prefill) are index tensors that random draws cannot make valid, so they
// go into a safetensors blob of the dataset, as upstream's captured
// workloads carry them (blob/workloads/<op_type>/<definition>/
// <definition>_<uuid>.safetensors). The caches and queries stay random.
#include <cstdint>
#include <string>
#include <vector>

#include "workbench/trace.h"

namespace strata {

// Whether the definition takes a page table (a kv_indptr input).
bool takes_page_table(const Definition& def);

// One batch of sequences: sequence b has q_lens[b] query rows, the last
// ones of its kv_lens[b] cached positions (decode: every q_len is 1). Pages
// are numbered in a shuffled order drawn from `seed`, with one page no
// sequence uses, so a kernel that ignores the table reads the wrong rows.
// Writes the blob under `root` and returns the workload, its axes
// consistent with the table; sm_scale is 1/sqrt(128).
Workload paged_workload(const Definition& def, const std::vector<int32_t>& q_lens, const std::vector<int32_t>& kv_lens,
                        const std::string& uuid, const std::string& root, uint64_t seed);

// Workloads for a paged definition that has none captured, one per size n:
// decode n sequences; prefill n query rows over ceil(n / 64) sequences;
// 63-1022 cached positions before each sequence's query rows.
std::vector<Workload> synthetic_paged_workloads(const Definition& def, const std::vector<int64_t>& sizes,
                                                const std::string& root);

}  // namespace strata
