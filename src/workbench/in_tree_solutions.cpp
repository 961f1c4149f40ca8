#include "workbench/in_tree_solutions.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <regex>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/fp8_gemm.h"
#include "kernels/fp8_matrix.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"
#include "kernels/matmul.h"
#include "kernels/mla_attention.h"
#include "kernels/ops.h"
#include "kernels/solution_registry.h"

namespace strata {

namespace {

using Inputs = std::vector<TensorData>;
// How one kernel definition's solution is called on a definition's tensors.
using Adapter = std::function<PreparedCall(const Solution& s, const Definition& def, const Inputs& in)>;

// A constant written into the definition's name, such as the 1000000 of "_theta1000000".
int64_t name_constant(const Definition& def, const char* key) {
  std::smatch m;
  if (!std::regex_search(def.name, m, std::regex(std::string("_") + key + "(\\d+)"))) {
    fail("{}: no '{}' constant in the name", def.name, key);
  }
  return std::stoll(m[1]);
}

constexpr float kRmsnormEps = 1e-6f;  // every dataset rmsnorm fixes it, as upstream's do

PreparedCall gemm_bf16(const Solution& s, const Definition&, const Inputs& in) {
  const MatmulFn fn = s.kernel(kGemmBf16);
  const TensorData &a = in[0], &b = in[1];
  const int64_t m = a.shape[0], n = b.shape[0], k = b.shape[1];
  const WeightMatrix w{DType::BF16, b.bytes.data(), n, k, size_t(k) * 2};
  return [=, &a](std::vector<TensorData>& out) { fn(MatmulArgs{a.as<float>(), m, w, out[0].as<float>()}, 0, n); };
}

PreparedCall gemm_w4a16(const Solution& s, const Definition&, const Inputs& in) {
  const Int4GemmFn fn = s.kernel(kGemmW4a16G32);
  const TensorData &a = in[0], &packed = in[1], &scales = in[2];
  const int64_t m = a.shape[0], n = packed.shape[0], k = packed.shape[1] * 8;
  auto w = std::make_shared<Int4Matrix>(
      Int4Matrix::from_compressed_tensors(packed.as<int32_t>(), scales.as<uint16_t>(), Int4ScaleType::BF16, n, k));
  return [=, &a](std::vector<TensorData>& out) { fn(Int4GemmArgs{a.as<float>(), m, w.get(), out[0].as<float>()}, 0, w->tiles()); };
}

PreparedCall rmsnorm_adapter(const Solution& s, const Definition&, const Inputs& in) {
  const RmsNormFn fn = s.kernel(kRmsnorm);
  return [fn, &in](std::vector<TensorData>& out) {
    fn(in[0].as<float>(), in[1].as<float>(), out[0].as<float>(), in[0].shape[0], in[0].shape[1], kRmsnormEps);
  };
}

PreparedCall rope_neox(const Solution& s, const Definition& def, const Inputs& in) {
  const RopeFn fn = s.kernel(kRopeNeox);
  const float theta = float(name_constant(def, "theta"));
  const int64_t rotary = name_constant(def, "rd");
  return [=, &in](std::vector<TensorData>& out) {
    std::memcpy(out[0].bytes.data(), in[0].bytes.data(), in[0].bytes.size());
    fn(out[0].as<float>(), in[0].shape[0], in[0].shape[1], in[0].shape[2], rotary, in[1].as<int32_t>(), theta);
  };
}

PreparedCall softmax_adapter(const Solution& s, const Definition&, const Inputs& in) {
  const SoftmaxFn fn = s.kernel(kSoftmax);
  return [fn, &in](std::vector<TensorData>& out) {
    std::memcpy(out[0].bytes.data(), in[0].bytes.data(), in[0].bytes.size());
    const int64_t rows = in[0].shape[0], v = in[0].shape[1];
    for (int64_t r = 0; r < rows; ++r) fn(out[0].as<float>() + r * v, v);
  };
}

PreparedCall silu_mul_adapter(const Solution& s, const Definition&, const Inputs& in) {
  const SiluMulFn fn = s.kernel(kSiluMul);
  return [fn, &in](std::vector<TensorData>& out) {
    fn(in[0].as<float>(), in[1].as<float>(), out[0].as<float>(), in[0].numel());
  };
}

PreparedCall argmax_adapter(const Solution& s, const Definition&, const Inputs& in) {
  const ArgmaxFn fn = s.kernel(kArgmax);
  return [fn, &in](std::vector<TensorData>& out) {
    const int64_t rows = in[0].shape[0], v = in[0].shape[1];
    for (int64_t r = 0; r < rows; ++r) out[0].as<int64_t>()[r] = fn(in[0].as<float>() + r * v, v);
  };
}

PreparedCall gemm_fp8(const Solution& s, const Definition&, const Inputs& in) {
  const Fp8GemmFn fn = s.kernel(kGemmFp8E4m3Block128);
  const TensorData &a = in[0], &b = in[1], &scales = in[2];
  const int64_t m = a.shape[0], n = b.shape[0], k = b.shape[1];
  auto w = std::make_shared<Fp8Matrix>(b.as<uint8_t>(), n, k,
                                       std::vector<float>(scales.as<float>(), scales.as<float>() + scales.numel()));
  return [=, &a](std::vector<TensorData>& out) { fn(Fp8GemmArgs{a.as<float>(), m, w.get(), out[0].as<float>()}, 0, n); };
}

const TensorData& input(const Definition& def, const Inputs& in, const std::string& name) {
  for (size_t i = 0; i < def.inputs.size(); ++i)
    if (def.inputs[i].name == name) return in[i];
  fail("{}: no input '{}'", def.name, name);
}

int64_t const_axis(const Definition& def, const char* name) {
  const DefinitionAxis* a = def.axis(name);
  if (!a || !a->is_const) fail("{}: no const axis '{}'", def.name, name);
  return a->value;
}

// A batch's page table as strata's kernels take it: per sequence its pages,
// and per query row (sequence after sequence) how many positions it sees
// (causal: the query rows are the last ones of their sequence).
struct PageTable {
  std::vector<std::vector<int32_t>> pages;
  std::vector<int64_t> first_row, rows;  // per sequence
  std::vector<int32_t> n_keys;           // per query row
};

PageTable page_table(const Definition& def, const Inputs& in) {
  const int32_t page_size = int32_t(const_axis(def, "page_size"));
  const TensorData &kv_indptr = input(def, in, "kv_indptr"), &kv_indices = input(def, in, "kv_indices"),
                   &last = input(def, in, "kv_last_page_len");
  const bool prefill = std::any_of(def.inputs.begin(), def.inputs.end(), [](const auto& t) { return t.name == "qo_indptr"; });
  PageTable t;
  for (int64_t b = 0; b + 1 < kv_indptr.numel(); ++b) {
    const int32_t begin = kv_indptr.as<int32_t>()[b], end = kv_indptr.as<int32_t>()[b + 1];
    t.pages.emplace_back(kv_indices.as<int32_t>() + begin, kv_indices.as<int32_t>() + end);
    const int32_t kv_len = (end - begin - 1) * page_size + last.as<int32_t>()[b];
    const int32_t* qo = prefill ? input(def, in, "qo_indptr").as<int32_t>() : nullptr;
    t.first_row.push_back(prefill ? qo[b] : b);
    t.rows.push_back(prefill ? qo[b + 1] - qo[b] : 1);
    for (int64_t r = 0; r < t.rows.back(); ++r) t.n_keys.push_back(int32_t(kv_len - t.rows.back() + r + 1));
  }
  return t;
}

// GQA over the definition's [pages, page_size, kv_heads, head_dim] caches:
// one call per (sequence, KV head), as the engine makes them.
PreparedCall gqa_paged(const Solution& s, const Definition& def, const Inputs& in) {
  const AttentionFn fn = s.kernel(kGqaPagedAttention);
  const int64_t heads = const_axis(def, "num_qo_heads"), kv_heads = const_axis(def, "num_kv_heads"),
                dim = const_axis(def, "head_dim"), page_size = const_axis(def, "page_size");
  auto table = std::make_shared<PageTable>(page_table(def, in));
  const TensorData &q = input(def, in, "q"), &k = input(def, in, "k_cache"), &v = input(def, in, "v_cache");
  const float scale = float(input(def, in, "sm_scale").value(0));
  return [=, &q, &k, &v](std::vector<TensorData>& out) {
    const int64_t group = heads / kv_heads;
    for (size_t b = 0; b < table->pages.size(); ++b) {
      for (int64_t h = 0; h < kv_heads; ++h) {
        const int64_t offset = table->first_row[b] * heads * dim + h * group * dim;
        fn(AttentionArgs{.head_dim = dim, .n_rows = table->rows[b], .n_heads = group, .q = q.as<float>() + offset,
                         .out = out[0].as<float>() + offset, .row_stride = heads * dim,
                         .n_keys = table->n_keys.data() + table->first_row[b], .k_base = k.as<float>() + h * dim,
                         .v_base = v.as<float>() + h * dim, .block_table = table->pages[b].data(),
                         .block_size = int32_t(page_size), .block_stride = page_size * kv_heads * dim,
                         .kv_row_stride = kv_heads * dim, .scale = scale});
      }
    }
  };
}

// MLA: strata caches one row [c | k_pe] per position and takes each head's
// query as [q_nope | q_pe], so preparing interleaves the definition's two
// caches and two query tensors into that layout (the engine writes them so).
PreparedCall mla_paged(const Solution& s, const Definition& def, const Inputs& in) {
  const MlaAttentionFn fn = s.kernel(kMlaPagedAttention);
  const int64_t heads = const_axis(def, "num_qo_heads"), ckv = const_axis(def, "head_dim_ckv"),
                kpe = const_axis(def, "head_dim_kpe"), page_size = const_axis(def, "page_size"), width = ckv + kpe;
  auto table = std::make_shared<PageTable>(page_table(def, in));
  auto interleave = [width](const TensorData& a, int64_t a_width, const TensorData& b) {
    const int64_t rows = a.numel() / a_width;
    auto joined = std::make_shared<std::vector<float>>(size_t(rows * width));
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(a.as<float>() + r * a_width, a_width, joined->data() + r * width);
      std::copy_n(b.as<float>() + r * (width - a_width), width - a_width, joined->data() + r * width + a_width);
    }
    return joined;
  };
  auto q = interleave(input(def, in, "q_nope"), ckv, input(def, in, "q_pe"));
  auto cache = interleave(input(def, in, "ckv_cache"), ckv, input(def, in, "kpe_cache"));
  const float scale = float(input(def, in, "sm_scale").value(0));
  return [=](std::vector<TensorData>& out) {
    for (size_t b = 0; b < table->pages.size(); ++b) {
      for (int64_t r = table->first_row[b]; r < table->first_row[b] + table->rows[b]; ++r) {
        fn(MlaAttentionArgs{.kv_lora_rank = ckv, .rope_dim = kpe, .n_heads = heads, .q = q->data() + r * heads * width,
                            .out = out[0].as<float>() + r * heads * ckv, .key_begin = 0, .key_end = table->n_keys[size_t(r)],
                            .base = cache->data(), .block_table = table->pages[b].data(), .block_size = int32_t(page_size),
                            .block_stride = page_size * width, .row_stride = width, .scale = scale});
      }
    }
  };
}

const Adapter* adapter_for(const std::string& kernel) {
  static const std::vector<std::pair<std::string, Adapter>> adapters = {
      {"gemm_bf16", gemm_bf16},        {"gemm_w4a16_g32", gemm_w4a16}, {"rmsnorm", rmsnorm_adapter},
      {"rope_neox", rope_neox},        {"softmax", softmax_adapter},   {"silu_mul", silu_mul_adapter},
      {"argmax", argmax_adapter},      {"gemm_fp8_e4m3_block128", gemm_fp8},
      {"gqa_paged_attention", gqa_paged}, {"mla_paged_attention", mla_paged},
  };
  for (const auto& [name, a] : adapters)
    if (name == kernel) return &a;
  return nullptr;
}

}  // namespace

std::vector<RunnableSolution> in_tree_solutions(const Definition& def) {
  const std::optional<std::string> kernel = def.tag("strata_kernel");
  const Adapter* adapter = kernel ? adapter_for(*kernel) : nullptr;
  if (!adapter) return {};
  // A definition fixes the numeric path (strata_path tag); its first solution
  // on it (the scalar reference, or the lowest instruction set) is the baseline.
  const std::optional<std::string> path = def.tag("strata_path");
  std::vector<const Solution*> solutions = runnable_solutions(*kernel);
  std::erase_if(solutions, [&](const Solution* s) { return path && numeric_path_name(s->path) != *path; });
  std::stable_sort(solutions.begin(), solutions.end(), [](const Solution* a, const Solution* b) { return a->isa < b->isa; });
  std::vector<RunnableSolution> out;
  for (const Solution* s : solutions) {
    const bool reference = s == solutions.front();
    std::string target = std::string("x86_64-") + std::string(isa_name(s->isa));
    if (s->path != NumericPath::Exact) target += "-" + std::string(numeric_path_name(s->path));
    // Solution names are unique over a dataset, and a registry solution serves many definitions.
    RunnableSolution r{fmt::format("{}__{}", def.name, s->name), reference ? "baseline" : "strata", std::string(s->name),
                       {target}, [s, adapter, &def](const Inputs& in) { return (*adapter)(*s, def, in); }};
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace strata
