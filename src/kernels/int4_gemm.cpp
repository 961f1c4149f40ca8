#include "kernels/int4_gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/int4_matrix.h"

namespace strata {

std::string_view numeric_path_name(NumericPath path) { return path == NumericPath::Exact ? "exact" : "w4a8"; }

// The reference: per row and group, the dot product of x with the integer
// quants, then scaled (the order every solution follows).
void int4_gemm_scalar(const Int4GemmArgs& a, int64_t tile_begin, int64_t tile_end) {
  const Int4Matrix& w = *a.w;
  const int64_t row_end = std::min(w.rows(), tile_end * Int4Matrix::kTileRows);
  for (int64_t r = tile_begin * Int4Matrix::kTileRows; r < row_end; ++r) {
    for (int64_t t = 0; t < a.n; ++t) {
      const float* x = a.x + t * w.cols();
      float acc = 0;
      for (int64_t g = 0; g < w.groups(); ++g) {
        float dot = 0;
        for (int64_t c = g * Int4Matrix::kGroup; c < (g + 1) * Int4Matrix::kGroup; ++c) dot += x[c] * float(w.quant(r, c));
        acc += w.scale(r, g) * dot;
      }
      a.y[t * w.rows() + r] = acc;
    }
  }
}

void quantize_activations_q8(const float* x, int64_t cols, int8_t* q, float* d, int32_t* qsum) {
  for (int64_t g = 0; g < cols / Int4Matrix::kGroup; ++g) {
    const float* xg = x + g * Int4Matrix::kGroup;
    float amax = 0;
    for (int i = 0; i < Int4Matrix::kGroup; ++i) amax = std::max(amax, std::fabs(xg[i]));
    const float scale = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < Int4Matrix::kGroup; ++i) {
      const int v = int(std::nearbyint(xg[i] * inv));
      q[g * Int4Matrix::kGroup + i] = int8_t(v);
      sum += v;
    }
    d[g] = f16_to_f32(f32_to_f16(scale));  // Q8_0 stores d as f16
    qsum[g] = sum;
  }
}

QuantizedActivations quantize_tokens_q8(const float* x, int64_t n, int64_t cols, QuantizeActivationsFn quantize) {
  const int64_t groups = cols / Int4Matrix::kGroup;
  thread_local std::vector<int8_t> q;
  thread_local std::vector<float> d;
  thread_local std::vector<int32_t> qsum;
  q.resize(size_t(n * cols));
  d.resize(size_t(n * groups));
  qsum.resize(size_t(n * groups));
  for (int64_t t = 0; t < n; ++t) {
    quantize(x + t * cols, cols, &q[size_t(t * cols)], &d[size_t(t * groups)], &qsum[size_t(t * groups)]);
  }
  return {q.data(), d.data(), qsum.data(), cols, groups};
}

const std::vector<Int4GemmSolution>& int4_gemm_solutions() {
  static const std::vector<Int4GemmSolution> list = {
      {"int4_gemm_scalar", Isa::Scalar, false, NumericPath::Exact, int4_gemm_scalar},
      {"int4_gemm_avx2", Isa::Avx2, false, NumericPath::Exact, int4_gemm_avx2},
      {"int4_gemm_avx512", Isa::Avx512, false, NumericPath::Exact, int4_gemm_avx512},
      {"int4_gemm_avx2_w4a8", Isa::Avx2, false, NumericPath::W4A8, int4_gemm_avx2_w4a8},
      {"int4_gemm_avx512_vnni_w4a8", Isa::Avx512, true, NumericPath::W4A8, int4_gemm_avx512_vnni_w4a8},
  };
  return list;
}

bool int4_solution_supported(const Int4GemmSolution& s) {
  return isa_supported(s.isa) && (!s.needs_vnni || __builtin_cpu_supports("avx512vnni"));
}

namespace {

// The best solution on `path` within max_isa(), or null.
const Int4GemmSolution* best_on(NumericPath path) {
  const Int4GemmSolution* best = nullptr;
  for (const auto& s : int4_gemm_solutions()) {
    if (s.path == path && s.isa <= max_isa() && int4_solution_supported(s) && (!best || s.isa > best->isa)) best = &s;
  }
  return best;
}

const Int4GemmSolution* select_from_env() {
  const char* env = std::getenv("STRATA_INT4_PATH");
  const std::string_view wanted = env && *env ? env : "";
  if (wanted.empty()) {
    // Default: w4a8 when usable (faster in bench_int4), else exact.
    const Int4GemmSolution* s = best_on(NumericPath::W4A8);
    return s ? s : best_on(NumericPath::Exact);
  }
  if (wanted != "exact" && wanted != "w4a8") fail("STRATA_INT4_PATH: unknown value '{}' (expected exact or w4a8)", wanted);
  const Int4GemmSolution* s = best_on(wanted == "exact" ? NumericPath::Exact : NumericPath::W4A8);
  if (!s) fail("STRATA_INT4_PATH={}: no solution on that path runs on this CPU within STRATA_KERNEL_ISA", wanted);
  return s;
}

std::atomic<const Int4GemmSolution*> g_selected{nullptr};

}  // namespace

const Int4GemmSolution& int4_gemm_selected() {
  const Int4GemmSolution* s = g_selected.load(std::memory_order_acquire);
  if (!s) {
    s = select_from_env();
    g_selected.store(s, std::memory_order_release);
  }
  return *s;
}

void select_int4_path(NumericPath path) {
  const Int4GemmSolution* s = best_on(path);
  if (!s) fail("int4: no {} solution runs on this CPU within STRATA_KERNEL_ISA", numeric_path_name(path));
  g_selected.store(s, std::memory_order_release);
}

void int4_gemm(const float* x, int64_t n, const Int4Matrix& w, float* y) {
  const Int4GemmArgs args{x, n, &w, y};
  const Int4GemmFn fn = int4_gemm_selected().fn;
  ThreadPool::global().parallel_for(w.tiles(), [&](int64_t t0, int64_t t1) { fn(args, t0, t1); });
}

void int4_gemm_rows(const float* x, int64_t n, const Int4Matrix& w, float* y, int64_t row_begin,
                    int64_t row_end) {
  constexpr int64_t kTile = Int4Matrix::kTileRows;
  if (row_begin % kTile != 0 || (row_end % kTile != 0 && row_end != w.rows())) {
    fail("int4_gemm_rows: rows [{}, {}) are not whole 16-row tiles", row_begin, row_end);
  }
  int4_gemm_selected().fn(Int4GemmArgs{x, n, &w, y}, row_begin / kTile, (row_end + kTile - 1) / kTile);
}

}  // namespace strata
