#include "kernels/solution_registry.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/compute_rates.h"
#include "kernels/mla_attention.h"
#include "kernels/fp8_gemm.h"
#include "kernels/int4_gemm.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace strata {

std::string_view numeric_path_name(NumericPath path) {
  switch (path) {
    case NumericPath::Exact: return "exact";
    case NumericPath::W4A8: return "w4a8";
    case NumericPath::Bf16Dot: return "bf16dot";
    case NumericPath::F16Fma: return "f16fma";
  }
  return "?";
}

void Solution::wrong_definition(std::string_view asked) const {
  fail("kernel solution {} belongs to {}, not {}", name, definition, asked);
}

namespace {

// One numeric path of a definition, and whether it is worth taking by
// default on this CPU (unset: always, where a solution on it runs).
struct PathOption {
  NumericPath path;
  bool (*pays)() = nullptr;
};

// How a definition chooses among its numeric paths.
struct DefinitionSpec {
  std::string_view name;
  // The paths its solutions follow in order of preference: the first one
  // with a solution that runs here and that pays is the default, unless
  // the switch asks for another.
  std::vector<PathOption> paths = {{NumericPath::Exact}};
  // The environment variable naming a path, if the definition has a choice.
  const char* path_switch = nullptr;
  // Whether a path asked for that cannot run here is an error (the numerics
  // would not be the ones asked for) rather than a fall back to the default.
  bool path_required = false;
};

const std::vector<DefinitionSpec>& definition_specs() {
  using P = NumericPath;
  static const std::vector<DefinitionSpec> specs = {
      {kGemmF32.name},
      {kGemmF16.name},
      // f16fma where the CPU has AVX512-FP16 and its fp16 FMAs outrun f32
      // ones (f16_fma_pays_here, compute_rates.h), with about half
      // bf16dot's error; else bf16dot where the CPU's bf16 dot products
      // outrun f32 FMAs (bf16_dot_pays_here), with the numerics of
      // llama.cpp and of GPU engines; both are faster there in bench_int4
      // (BM_Bf16) and `strata generate`. Elsewhere exact by default. Asked
      // for where it cannot run, the default too: the switch names a
      // preference for BF16 speed, not a required result.
      {kGemmBf16.name,
       {{P::F16Fma, f16_fma_pays_here}, {P::Bf16Dot, bf16_dot_pays_here}, {P::Exact}},
       "STRATA_MATMUL_PATH",
       false},
      {kGemmQ8_0.name},
      {kGemmQ4_0.name},
      // w4a8 when usable: 1.3-2.5x faster than exact in bench_int4.
      {kGemmW4a16G32.name, {{P::W4A8}, {P::Exact}}, "STRATA_INT4_PATH", true},
      {kGemmFp8E4m3Block128.name},
      {kGqaPagedAttention.name},
      {kMlaPagedAttention.name},
      {kRmsnorm.name},
      {kFusedAddRmsnorm.name},
      {kRopeNeox.name},
      {kRopeGptj.name},
      {kSoftmax.name},
      {kSiluMul.name},
      {kArgmax.name},
      {kMoeTopkRouter.name},
      {kMoeCombine.name},
  };
  return specs;
}

// The registry's entry for `fn`, a solution of `def` (its type checked here).
template <typename Fn>
Solution make_solution(KernelDefinition<Fn> def, std::string_view name, Isa isa, std::type_identity_t<Fn> fn,
                       NumericPath path = NumericPath::Exact, CpuFeatures needs = {}) {
  return {def.name, name, isa, needs, path, reinterpret_cast<void (*)()>(fn)};
}

std::vector<Solution> registered_solutions() {
  using P = NumericPath;
  const CpuFeatures vnni{.vnni = true}, bf16{.bf16 = true}, fp16{.fp16 = true};
  return {
      // The dense gemms share their per-ISA functions, which read the dtype.
      make_solution(kGemmF32, "gemm_f32_scalar", Isa::Scalar, matmul_scalar),
      make_solution(kGemmF32, "gemm_f32_avx2", Isa::Avx2, matmul_avx2),
      make_solution(kGemmF32, "gemm_f32_avx512", Isa::Avx512, matmul_avx512),
      make_solution(kGemmF16, "gemm_f16_scalar", Isa::Scalar, matmul_scalar),
      make_solution(kGemmF16, "gemm_f16_avx2", Isa::Avx2, matmul_avx2),
      make_solution(kGemmF16, "gemm_f16_avx512", Isa::Avx512, matmul_avx512),
      make_solution(kGemmBf16, "gemm_bf16_scalar", Isa::Scalar, matmul_scalar),
      make_solution(kGemmBf16, "gemm_bf16_avx2", Isa::Avx2, matmul_avx2),
      make_solution(kGemmBf16, "gemm_bf16_avx512", Isa::Avx512, matmul_avx512),
      make_solution(kGemmBf16, "gemm_bf16_avx512_bf16dot", Isa::Avx512, matmul_bf16dot, P::Bf16Dot, bf16),
      make_solution(kGemmBf16, "gemm_bf16_avx512fp16_f16fma", Isa::Avx512, matmul_f16fma, P::F16Fma, fp16),
      make_solution(kGemmQ8_0, "gemm_q8_0_scalar", Isa::Scalar, matmul_scalar),
      make_solution(kGemmQ8_0, "gemm_q8_0_avx2", Isa::Avx2, matmul_avx2),
      make_solution(kGemmQ8_0, "gemm_q8_0_avx512", Isa::Avx512, matmul_avx512),
      make_solution(kGemmQ4_0, "gemm_q4_0_scalar", Isa::Scalar, matmul_scalar),
      make_solution(kGemmQ4_0, "gemm_q4_0_avx2", Isa::Avx2, matmul_avx2),
      make_solution(kGemmQ4_0, "gemm_q4_0_avx512", Isa::Avx512, matmul_avx512),
      make_solution(kGemmW4a16G32, "int4_gemm_scalar", Isa::Scalar, int4_gemm_scalar),
      make_solution(kGemmW4a16G32, "int4_gemm_avx2", Isa::Avx2, int4_gemm_avx2),
      make_solution(kGemmW4a16G32, "int4_gemm_avx512", Isa::Avx512, int4_gemm_avx512),
      make_solution(kGemmW4a16G32, "int4_gemm_avx2_w4a8", Isa::Avx2, int4_gemm_avx2_w4a8, P::W4A8),
      make_solution(kGemmW4a16G32, "int4_gemm_avx512_vnni_w4a8", Isa::Avx512, int4_gemm_avx512_vnni_w4a8, P::W4A8,
                    vnni),
      make_solution(kGemmFp8E4m3Block128, "fp8_gemm_scalar", Isa::Scalar, fp8_gemm_scalar),
      make_solution(kGemmFp8E4m3Block128, "fp8_gemm_avx512", Isa::Avx512, fp8_gemm_avx512),
      make_solution(kGqaPagedAttention, "attention_scalar", Isa::Scalar, attention_scalar),
      make_solution(kGqaPagedAttention, "attention_avx2", Isa::Avx2, attention_avx2),
      make_solution(kGqaPagedAttention, "attention_avx512", Isa::Avx512, attention_avx512),
      make_solution(kMlaPagedAttention, "mla_attention_scalar", Isa::Scalar, mla_attention_scalar),
      make_solution(kMlaPagedAttention, "mla_attention_avx2", Isa::Avx2, mla_attention_avx2),
      make_solution(kMlaPagedAttention, "mla_attention_avx512", Isa::Avx512, mla_attention_avx512),
      make_solution(kRmsnorm, "rmsnorm_scalar", Isa::Scalar, rmsnorm_scalar),
      make_solution(kRmsnorm, "rmsnorm_avx512", Isa::Avx512, rmsnorm_avx512),
      make_solution(kFusedAddRmsnorm, "fused_add_rmsnorm_scalar", Isa::Scalar, fused_add_rmsnorm_scalar),
      make_solution(kFusedAddRmsnorm, "fused_add_rmsnorm_avx512", Isa::Avx512, fused_add_rmsnorm_avx512),
      make_solution(kRopeNeox, "rope_neox_scalar", Isa::Scalar, rope_neox_scalar),
      make_solution(kRopeNeox, "rope_neox_avx512", Isa::Avx512, rope_neox_avx512),
      make_solution(kRopeGptj, "rope_gptj_scalar", Isa::Scalar, rope_gptj_scalar),
      make_solution(kRopeGptj, "rope_gptj_avx512", Isa::Avx512, rope_gptj_avx512),
      make_solution(kSoftmax, "softmax_scalar", Isa::Scalar, softmax_scalar),
      make_solution(kSoftmax, "softmax_avx512", Isa::Avx512, softmax_avx512),
      make_solution(kSiluMul, "silu_mul_scalar", Isa::Scalar, silu_mul_scalar),
      make_solution(kSiluMul, "silu_mul_avx512", Isa::Avx512, silu_mul_avx512),
      make_solution(kArgmax, "argmax_scalar", Isa::Scalar, argmax_scalar),
      make_solution(kArgmax, "argmax_avx512", Isa::Avx512, argmax_avx512),
      make_solution(kMoeTopkRouter, "moe_topk_router_scalar", Isa::Scalar, topk_router_scalar),
      make_solution(kMoeCombine, "moe_combine_scalar", Isa::Scalar, moe_combine_scalar),
      make_solution(kMoeCombine, "moe_combine_avx512", Isa::Avx512, moe_combine_avx512),
  };
}

// The position of environment variable `var`'s value among `choices`; none
// when it is unset or empty; Error for any other value.
std::optional<size_t> env_choice(const char* var, const std::vector<std::string_view>& choices) {
  const char* env = std::getenv(var);
  if (!env || !*env) return std::nullopt;
  for (size_t i = 0; i < choices.size(); ++i)
    if (choices[i] == env) return i;
  std::string expected;
  for (size_t i = 0; i < choices.size(); ++i) {
    expected += i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ";
    expected += choices[i];
  }
  fail("{}: unknown value '{}' (expected {})", var, env, expected);
}

// The best solution of `definition` on `path` within max_isa(), or null.
const Solution* best_on(std::span<const Solution> solutions, std::string_view definition, NumericPath path) {
  const Solution* best = nullptr;
  for (const Solution& s : solutions) {
    if (s.definition == definition && s.path == path && s.isa <= max_isa() && solution_runs_here(s) &&
        (!best || s.isa > best->isa))
      best = &s;
  }
  return best;
}

// The selection for `spec` on `asked` (from its switch or select_path), or
// on its default path when none is asked.
const Solution& choose(std::span<const Solution> solutions, const DefinitionSpec& spec,
                       std::optional<NumericPath> asked) {
  if (asked) {
    if (std::ranges::none_of(spec.paths, [&](const PathOption& o) { return o.path == *asked; }))
      fail("{}: no numeric path {}", spec.name, numeric_path_name(*asked));
    if (const Solution* s = best_on(solutions, spec.name, *asked)) return *s;
    if (spec.path_required) {
      fail("{}: no solution on path {} runs on this CPU within STRATA_KERNEL_ISA{}", spec.name,
           numeric_path_name(*asked), spec.path_switch ? fmt::format(" ({})", spec.path_switch) : "");
    }
  }
  for (const PathOption& option : spec.paths) {
    const Solution* s = best_on(solutions, spec.name, option.path);
    if (s && (!option.pays || option.pays())) return *s;
  }
  fail("{}: no solution runs on this CPU", spec.name);
}

std::optional<NumericPath> path_from_env(const DefinitionSpec& spec) {
  if (!spec.path_switch) return std::nullopt;
  std::vector<std::string_view> names;
  for (const PathOption& o : spec.paths) names.push_back(numeric_path_name(o.path));
  const std::optional<size_t> i = env_choice(spec.path_switch, names);
  return i ? std::optional(spec.paths[*i].path) : std::nullopt;
}

// All solutions, the definitions' names and their selections (initially
// from the environment), made on first use.
struct Registry {
  std::vector<Solution> solutions = registered_solutions();
  std::vector<std::string_view> names;
  std::unique_ptr<std::atomic<const Solution*>[]> selected;

  Registry() : selected(std::make_unique<std::atomic<const Solution*>[]>(definition_specs().size())) {
    for (size_t i = 0; i < definition_specs().size(); ++i) {
      const DefinitionSpec& spec = definition_specs()[i];
      names.push_back(spec.name);
      selected[i].store(&choose(solutions, spec, path_from_env(spec)), std::memory_order_release);
    }
  }

  size_t index(std::string_view definition) const {
    const auto it = std::find(names.begin(), names.end(), definition);
    if (it == names.end()) fail("unknown kernel definition '{}'", definition);
    return size_t(it - names.begin());
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::span<const std::string_view> kernel_definitions() { return registry().names; }

std::vector<std::pair<std::string_view, const Solution*>> numeric_path_selections() {
  std::vector<std::pair<std::string_view, const Solution*>> out;
  for (const DefinitionSpec& spec : definition_specs())
    if (spec.path_switch) out.emplace_back(spec.name, &select(spec.name));
  return out;
}

std::span<const Solution> all_solutions() { return registry().solutions; }

bool solution_runs_here(const Solution& s) { return isa_supported(s.isa) && cpu_has(s.needs); }

std::vector<const Solution*> runnable_solutions(std::string_view definition) {
  registry().index(definition);
  std::vector<const Solution*> out;
  for (const Solution& s : registry().solutions)
    if (s.definition == definition && solution_runs_here(s)) out.push_back(&s);
  return out;
}

Isa max_isa() {
  static const Isa isa = [] {
    const Isa best = isa_supported(Isa::Avx512) ? Isa::Avx512 : isa_supported(Isa::Avx2) ? Isa::Avx2 : Isa::Scalar;
    const std::vector<Isa> levels = {Isa::Scalar, Isa::Avx2, Isa::Avx512};
    std::vector<std::string_view> names;
    for (Isa level : levels) names.push_back(isa_name(level));
    const std::optional<size_t> cap = env_choice("STRATA_KERNEL_ISA", names);
    return cap ? std::min(levels[*cap], best) : best;
  }();
  return isa;
}

const std::atomic<const Solution*>& selection_of(std::string_view definition) {
  Registry& r = registry();
  return r.selected[r.index(definition)];
}

const Solution& select(std::string_view definition) {
  return *selection_of(definition).load(std::memory_order_acquire);
}

void select_path(std::string_view definition, NumericPath path) {
  Registry& r = registry();
  const size_t i = r.index(definition);
  r.selected[i].store(&choose(r.solutions, definition_specs()[i], path), std::memory_order_release);
}

void force_solution(std::string_view definition, std::string_view name) {
  Registry& r = registry();
  const size_t i = r.index(definition);
  for (const Solution& s : r.solutions) {
    if (s.definition != definition || s.name != name) continue;
    if (!solution_runs_here(s)) fail("{}: solution {} does not run on this CPU", definition, name);
    r.selected[i].store(&s, std::memory_order_release);
    return;
  }
  fail("{}: no solution named '{}'", definition, name);
}

}  // namespace strata
