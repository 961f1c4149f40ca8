#include "workbench/external_solution.h"

#include <algorithm>
#include <array>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "workbench/out_of_tree_solution.h"

namespace strata {

namespace {

// Solutions are plain function pointers, so each loaded entry point gets a
// slot and a function instantiated for that slot.
constexpr size_t kSlots = 8;
std::array<strata_solution_entry, kSlots> g_rmsnorm_entries{}, g_gemm_bf16_entries{};

void check_returned(int rc, std::string_view kernel) {
  if (rc != 0) fail("out-of-tree {} solution returned {}", kernel, rc);
}

template <size_t I>
void rmsnorm_external(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float /*eps*/) {
  // eps is the definition's (1e-6), fixed in the solution as in the definition.
  const int64_t rows_shape[] = {n_rows, dim}, weight_shape[] = {dim};
  const strata_tensor in[] = {{const_cast<float*>(x), rows_shape, 2, "float32"},
                              {const_cast<float*>(weight), weight_shape, 1, "float32"}};
  strata_tensor out[] = {{y, rows_shape, 2, "float32"}};
  check_returned(g_rmsnorm_entries[I](in, 2, out, 1), "rmsnorm");
}

// Weight rows [row_begin, row_end) are a [rows, K] bf16 matrix of their
// own; the solution writes a [M, rows] block that lands in those columns of y.
template <size_t I>
void gemm_bf16_external(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  const int64_t m = a.n, k = a.w.cols, rows = row_end - row_begin;
  if (a.w.row_bytes != size_t(k) * 2) fail("out-of-tree gemm_bf16: weight rows are not contiguous");
  thread_local std::vector<float> block;
  block.resize(size_t(m * rows));
  const int64_t a_shape[] = {m, k}, b_shape[] = {rows, k}, c_shape[] = {m, rows};
  const strata_tensor in[] = {{const_cast<float*>(a.x), a_shape, 2, "float32"},
                              {const_cast<uint8_t*>(a.w.row(row_begin)), b_shape, 2, "bfloat16"}};
  strata_tensor out[] = {{block.data(), c_shape, 2, "float32"}};
  check_returned(g_gemm_bf16_entries[I](in, 2, out, 1), "gemm_bf16");
  for (int64_t t = 0; t < m; ++t) {
    std::copy_n(block.data() + t * rows, rows, a.y + t * a.w.rows + row_begin);
  }
}

template <size_t... I>
constexpr std::array<RmsNormFn, kSlots> rmsnorm_slots(std::index_sequence<I...>) {
  return {rmsnorm_external<I>...};
}
template <size_t... I>
constexpr std::array<MatmulFn, kSlots> gemm_bf16_slots(std::index_sequence<I...>) {
  return {gemm_bf16_external<I>...};
}

struct Loaded {
  std::mutex mutex;
  std::deque<std::string> names;  // Solution names are views
  std::deque<Solution> solutions;
  size_t rmsnorm = 0, gemm_bf16 = 0;
};

Loaded& loaded() {
  static Loaded l;
  return l;
}

}  // namespace

bool external_solutions_supported(std::string_view kernel) {
  return kernel == kRmsnorm.name || kernel == kGemmBf16.name;
}

const Solution& load_external_solution(std::string_view kernel, const std::string& name, const std::string& library,
                                       const std::string& function) {
  if (!external_solutions_supported(kernel)) fail("{}: serve cannot run out-of-tree solutions of {}", name, kernel);
  const strata_solution_entry entry = load_entry(library, function);
  Loaded& l = loaded();
  std::lock_guard lock(l.mutex);
  const bool is_rmsnorm = kernel == kRmsnorm.name;
  size_t& used = is_rmsnorm ? l.rmsnorm : l.gemm_bf16;
  if (used == kSlots) fail("{}: at most {} out-of-tree solutions of {} can be loaded", name, kSlots, kernel);
  const size_t slot = used++;
  void (*fn)();
  if (is_rmsnorm) {
    g_rmsnorm_entries[slot] = entry;
    fn = reinterpret_cast<void (*)()>(rmsnorm_slots(std::make_index_sequence<kSlots>())[slot]);
  } else {
    g_gemm_bf16_entries[slot] = entry;
    fn = reinterpret_cast<void (*)()>(gemm_bf16_slots(std::make_index_sequence<kSlots>())[slot]);
  }
  const std::string_view definition = is_rmsnorm ? kRmsnorm.name : kGemmBf16.name;
  l.names.push_back(name);
  return l.solutions.emplace_back(Solution{definition, l.names.back(), Isa::Scalar, {}, NumericPath::Exact, fn});
}

}  // namespace strata
