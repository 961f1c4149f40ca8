#include "workbench/in_tree_solutions.h"

#include <algorithm>
#include <cstring>
#include <map>
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
  WeightMatrix w{DType::BF16, b.bytes.data(), n, k, size_t(k) * 2};
  // As the model holds them: re-laid at load (untimed) for the solution that reads panels.
  const Bf16Copies copies = relay_for(fn, w);
  return [fn, m, n, w, copies, &a](std::vector<TensorData>& out) {
    fn(MatmulArgs{a.as<float>(), m, w, out[0].as<float>()}, 0, n);
  };
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

// The residual is updated in place, so each call starts from a copy of the
// input's (the copy is timed with every solution alike).
PreparedCall fused_add_rmsnorm_adapter(const Solution& s, const Definition&, const Inputs& in) {
  const FusedAddRmsNormFn fn = s.kernel(kFusedAddRmsnorm);
  auto residual = std::make_shared<std::vector<float>>(size_t(in[1].numel()));
  return [fn, residual, &in](std::vector<TensorData>& out) {
    std::copy_n(in[1].as<float>(), in[1].numel(), residual->data());
    fn(in[0].as<float>(), residual->data(), in[2].as<float>(), out[0].as<float>(), in[0].shape[0], in[0].shape[1],
       kRmsnormEps);
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

// Routers: the definition's name carries the scoring and its constants
// (softmax_renorm; ds_sigmoid_bias with groups ng/kg and scale rsf, "2p827"
// meaning 2.827), as upstream names its routers.
PreparedCall router_adapter(const Solution& s, const Definition& def, const Inputs& in) {
  const TopkRouterFn fn = s.kernel(kMoeTopkRouter);
  RouterParams p;
  const bool sigmoid = def.name.find("_sigmoid") != std::string::npos;
  if (sigmoid) {
    std::smatch m;
    if (!std::regex_search(def.name, m, std::regex("_ng(\\d+)_kg(\\d+)_.*_rsf(\\d+)p(\\d+)"))) {
      fail("{}: a sigmoid router's name gives ng, kg and rsf", def.name);
    }
    p = RouterParams{.sigmoid = true, .normalize = true, .scale = std::stof(m[3].str() + "." + m[4].str()),
                     .n_group = std::stoll(m[1]), .topk_group = std::stoll(m[2]), .bias = input(def, in, "correction_bias").as<float>()};
  } else if (def.name.find("_softmax_renorm") == std::string::npos) {
    fail("{}: unknown router scoring", def.name);
  }
  const int64_t experts = const_axis(def, "num_experts"), top_k = const_axis(def, "top_k");
  const TensorData& logits = input(def, in, "router_logits");
  return [=, &logits](std::vector<TensorData>& out) {
    for (int64_t t = 0; t < logits.shape[0]; ++t) {
      fn(logits.as<float>() + t * experts, experts, top_k, p, out[0].as<int32_t>() + t * top_k, out[1].as<float>() + t * top_k);
    }
  };
}

// The pre-routed MoE expert FFN on one INT4 GEMM solution, as moe_block
// runs it on one thread: each routed expert's tokens gathered, gate and up,
// SiLU(gate) * up, down, and each token's weighted sum. Preparing re-lays
// the routed experts' weights and groups the routes (serving does both
// before the GEMMs too).
PreparedCall moe_w4a16(const Solution& s, const Definition& def, const Inputs& in) {
  const Int4GemmFn fn = s.kernel(kGemmW4a16G32);
  const int64_t hidden = const_axis(def, "hidden_size"), inter = const_axis(def, "intermediate_size"),
                top_k = const_axis(def, "top_k");
  const TensorData &x = input(def, in, "hidden_states"), &ids = input(def, in, "topk_ids"),
                   &route_weights = input(def, in, "topk_weights");
  struct Expert {
    std::shared_ptr<Int4Matrix> gate, up, down;
    std::vector<int64_t> routes;  // token * top_k + slot
  };
  auto matrix = [&](const char* name, int64_t e, int64_t rows, int64_t cols) {
    const std::string n(name);
    const int32_t* packed = input(def, in, n + "_packed").as<int32_t>() + e * rows * cols / 8;
    const uint16_t* scales = input(def, in, n + "_scale").as<uint16_t>() + e * rows * cols / 32;
    return std::make_shared<Int4Matrix>(Int4Matrix::from_compressed_tensors(packed, scales, Int4ScaleType::BF16, rows, cols));
  };
  auto experts = std::make_shared<std::map<int32_t, Expert>>();
  for (int64_t r = 0; r < ids.numel(); ++r) (*experts)[ids.as<int32_t>()[r]].routes.push_back(r);
  int64_t most = 0;
  for (auto& [e, ex] : *experts) {
    ex.gate = matrix("gate", e, inter, hidden), ex.up = matrix("up", e, inter, hidden), ex.down = matrix("down", e, hidden, inter);
    most = std::max<int64_t>(most, int64_t(ex.routes.size()));
  }
  auto scratch = std::make_shared<std::vector<float>>(size_t(most * (2 * hidden + 2 * inter)));
  return [=, &x, &route_weights](std::vector<TensorData>& out) {
    float* y = out[0].as<float>();
    std::fill_n(y, out[0].numel(), 0.0f);
    float *xin = scratch->data(), *gate = xin + most * hidden, *up = gate + most * inter, *down = up + most * inter;
    for (const auto& [e, ex] : *experts) {
      const int64_t m = int64_t(ex.routes.size());
      for (int64_t i = 0; i < m; ++i) std::copy_n(x.as<float>() + ex.routes[i] / top_k * hidden, hidden, xin + i * hidden);
      fn(Int4GemmArgs{xin, m, ex.gate.get(), gate}, 0, ex.gate->tiles());
      fn(Int4GemmArgs{xin, m, ex.up.get(), up}, 0, ex.up->tiles());
      silu_mul(gate, up, gate, m * inter);
      fn(Int4GemmArgs{gate, m, ex.down.get(), down}, 0, ex.down->tiles());
      for (int64_t i = 0; i < m; ++i) {
        const float w = route_weights.as<float>()[ex.routes[i]];
        float* dst = y + ex.routes[i] / top_k * hidden;
        for (int64_t c = 0; c < hidden; ++c) dst[c] += w * down[i * hidden + c];
      }
    }
  };
}

const Adapter* adapter_for(const Definition& def, const std::string& kernel) {
  static const Adapter moe = moe_w4a16;
  if (def.op_type == "moe") return kernel == "gemm_w4a16_g32" ? &moe : nullptr;
  static const std::vector<std::pair<std::string, Adapter>> adapters = {
      {"gemm_bf16", gemm_bf16},        {"gemm_w4a16_g32", gemm_w4a16}, {"rmsnorm", rmsnorm_adapter},
      {"rope_neox", rope_neox},        {"softmax", softmax_adapter},   {"silu_mul", silu_mul_adapter},
      {"argmax", argmax_adapter},      {"gemm_fp8_e4m3_block128", gemm_fp8},
      {"gqa_paged_attention", gqa_paged}, {"mla_paged_attention", mla_paged},
      {"moe_topk_router", router_adapter},  {"fused_add_rmsnorm", fused_add_rmsnorm_adapter},
  };
  for (const auto& [name, a] : adapters)
    if (name == kernel) return &a;
  return nullptr;
}

}  // namespace

std::vector<RunnableSolution> in_tree_solutions(const Definition& def) {
  const std::optional<std::string> kernel = def.tag("strata_kernel");
  const Adapter* adapter = kernel ? adapter_for(def, *kernel) : nullptr;
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
