#include "workbench/in_tree_solutions.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <regex>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"
#include "kernels/matmul.h"
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

const Adapter* adapter_for(const std::string& kernel) {
  static const std::vector<std::pair<std::string, Adapter>> adapters = {
      {"gemm_bf16", gemm_bf16},        {"gemm_w4a16_g32", gemm_w4a16}, {"rmsnorm", rmsnorm_adapter},
      {"rope_neox", rope_neox},        {"softmax", softmax_adapter},   {"silu_mul", silu_mul_adapter},
      {"argmax", argmax_adapter},
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
