#include "workbench/paged_workloads.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "core/error.h"
#include "workbench/index_blob.h"

namespace strata {

namespace {

bool has_input(const Definition& def, const std::string& name) {
  return std::any_of(def.inputs.begin(), def.inputs.end(), [&](const DefinitionTensor& t) { return t.name == name; });
}

std::vector<int32_t> prefix_sums(const std::vector<int32_t>& lens) {
  std::vector<int32_t> out{0};
  for (int32_t n : lens) out.push_back(out.back() + n);
  return out;
}

}  // namespace

bool takes_page_table(const Definition& def) { return has_input(def, "kv_indptr"); }

Workload paged_workload(const Definition& def, const std::vector<int32_t>& q_lens, const std::vector<int32_t>& kv_lens,
                        const std::string& uuid, const std::string& root, uint64_t seed) {
  const DefinitionAxis* page_axis = def.axis("page_size");
  if (!takes_page_table(def) || !page_axis || !page_axis->is_const) fail("{}: not a paged-attention definition", def.name);
  if (q_lens.size() != kv_lens.size() || q_lens.empty()) fail("{}: a batch needs one q and kv length per sequence", def.name);
  const int32_t page_size = int32_t(page_axis->value);
  std::vector<int32_t> pages, last_page_len;
  for (size_t b = 0; b < kv_lens.size(); ++b) {
    if (kv_lens[b] < 1 || q_lens[b] < 1 || q_lens[b] > kv_lens[b]) fail("{}: sequence {} has bad lengths", def.name, b);
    pages.push_back((kv_lens[b] + page_size - 1) / page_size);
    last_page_len.push_back(kv_lens[b] - (pages.back() - 1) * page_size);
  }
  const std::vector<int32_t> kv_indptr = prefix_sums(pages), qo_indptr = prefix_sums(q_lens);
  const int32_t used = kv_indptr.back(), num_pages = used + 1;
  std::vector<int32_t> order(static_cast<size_t>(num_pages));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const std::vector<int32_t> kv_indices(order.begin(), order.begin() + used);
  const bool prefill = has_input(def, "qo_indptr");
  if (!prefill && qo_indptr.back() != int32_t(q_lens.size())) fail("{}: decode takes one query row per sequence", def.name);

  Workload w;
  w.uuid = uuid;
  const int64_t batch = int64_t(kv_lens.size());
  for (const DefinitionAxis& a : def.axes) {
    if (a.is_const) continue;
    const int64_t value = a.name == "batch_size"       ? batch
                          : a.name == "len_indptr"     ? batch + 1
                          : a.name == "num_pages"      ? num_pages
                          : a.name == "num_kv_indices" ? used
                          : a.name == "total_q"        ? qo_indptr.back()
                                                       : -1;
    if (value < 0) fail("{}: no rule for var axis '{}' of a paged batch", def.name, a.name);
    w.axes.emplace_back(a.name, value);
  }
  std::vector<IndexTensor> index = {{"kv_indptr", {int64_t(kv_indptr.size())}, kv_indptr},
                                    {"kv_indices", {int64_t(kv_indices.size())}, kv_indices},
                                    {"kv_last_page_len", {int64_t(last_page_len.size())}, last_page_len}};
  if (prefill) index.push_back({"qo_indptr", {int64_t(qo_indptr.size())}, qo_indptr});
  w.inputs = write_index_blob(def, uuid, index, root, 1.0 / std::sqrt(128.0));
  return w;
}

std::vector<Workload> synthetic_paged_workloads(const Definition& def, const std::vector<int64_t>& sizes,
                                                const std::string& root) {
  const bool prefill = has_input(def, "qo_indptr");
  std::vector<Workload> out;
  for (int64_t n : sizes) {
    const int64_t batch = prefill ? (n + 63) / 64 : n;
    std::vector<int32_t> q_lens, kv_lens;
    for (int64_t b = 0; b < batch; ++b) {
      const int32_t q = prefill ? int32_t(n / batch + (b < n % batch)) : 1;
      q_lens.push_back(q);
      kv_lens.push_back(q + int32_t(63 + (b * 389 + 211) % 960));  // varied contexts, most not page-aligned
    }
    out.push_back(paged_workload(def, q_lens, kv_lens, fmt::format("synthetic-{}-{}", def.name, n), root, uint64_t(n)));
  }
  return out;
}

}  // namespace strata
