// Weight-streaming kernels (INT4 g32, FP8 block-scaled and BF16 GEMV/GEMM) against the
// machine's read bandwidth, measured in the same iterations: every iteration
// runs the kernel on weights that are not in any cache, then streams the same
// number of bytes from a 1 GiB buffer with a plain SIMD sum on the same
// threads. On a shared, noisy machine the bandwidth moves from minute to
// minute; pairing the two per iteration keeps their ratio honest.
// Counters: GB/s (weight bytes per second of the kernel, median), read_GB/s
// (the paired read, median) and fraction = median read time / median kernel
// time — the share of the available bandwidth the kernel reaches. GEMMs
// (512 tokens) are compute-bound and report GFLOP/s instead. BM_Fp8VsBf16
// times FP8 and BF16 weights of one shape in the same iterations and reports
// the ratio of their medians.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "formats/fp8_block.h"
#include "kernels/fp8_gemm.h"
#include "kernels/fp8_matrix.h"
#include "kernels/int4_gemm.h"
#include "kernels/int4_matrix.h"
#include "kernels/matmul.h"
#include "kernels/read_bandwidth.h"

namespace strata {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// A 1 GiB ring, far beyond the last-level cache, so every read comes from
// DRAM: the baseline a weight-streaming kernel is held to.
ColdReader& cold_reader() {
  static ColdReader r;
  return r;
}

// Runs `kernel(i)` on the i-th weight copy per iteration and sets the
// counters: for a GEMV (tokens == 1) the bandwidth ones described at the
// top, each iteration paired with a cold read of `bytes`; for a GEMM,
// which is compute-bound, GFLOP/s of `flops` per call.
template <typename Kernel>
void run_paired(benchmark::State& state, size_t bytes, double flops, int64_t tokens, size_t copies,
                Kernel&& kernel) {
  std::vector<double> kernel_s, read_s;
  size_t i = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    kernel(i);
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    kernel_s.push_back(s);
    if (tokens == 1) read_s.push_back(cold_reader().read_seconds(bytes));
    i = (i + 1) % copies;
  }
  const double k = median(kernel_s);
  if (tokens > 1) {
    state.counters["GFLOP/s"] = flops / k / 1e9;
    return;
  }
  const double r = median(read_s);
  state.counters["GB/s"] = double(bytes) / k / 1e9;
  state.counters["read_GB/s"] = double(bytes) / r / 1e9;
  state.counters["fraction"] = r / k;
}

// Copies enough that their total (1 GiB) exceeds the caches several times
// over (an Emerald Rapids VM here has a 260 MiB L3), so each call streams
// its weights from memory: cold weights, as in a sparse MoE, where a layer's
// experts were last read a whole step ago.
size_t cold_copies(size_t bytes_each) { return std::max<size_t>(2, (size_t(1024) << 20) / bytes_each); }

// The highest-ISA gemm_w4a16_g32 solution on `path` that runs here.
const Solution* best_solution(NumericPath path) {
  const Solution* sol = nullptr;
  for (const Solution* s : runnable_solutions(kGemmW4a16G32.name))
    if (s->path == path && (!sol || s->isa > sol->isa)) sol = s;
  return sol;
}

std::vector<std::unique_ptr<Int4Matrix>> random_int4(int64_t rows, int64_t cols, size_t copies) {
  std::mt19937 rng(1);
  std::vector<int32_t> packed(size_t(rows * cols / 8));
  for (auto& w : packed) w = int32_t(rng());
  const std::vector<uint16_t> scales(size_t(rows * cols / 32), f32_to_bf16(0.01f));
  std::vector<std::unique_ptr<Int4Matrix>> ms;
  for (size_t i = 0; i < copies; ++i) {
    ms.push_back(std::make_unique<Int4Matrix>(
        Int4Matrix::from_compressed_tensors(packed.data(), scales.data(), Int4ScaleType::BF16, rows, cols)));
  }
  return ms;
}

// One INT4 matrix times n tokens, row tiles split over the pool.
void BM_Int4(benchmark::State& state, NumericPath path) {
  const int64_t rows = state.range(0), cols = state.range(1), n = state.range(2);
  const Solution* sol = best_solution(path);
  const Int4GemmFn fn = sol->kernel(kGemmW4a16G32);
  const size_t bytes = Int4Matrix(rows, cols, Int4ScaleType::BF16).nbytes();
  const auto ms = random_int4(rows, cols, cold_copies(bytes));
  std::vector<float> x(size_t(n * cols), 0.5f), y(size_t(n * rows));
  run_paired(state, bytes, 2.0 * double(rows * cols * n), n, ms.size(), [&](size_t i) {
    const Int4GemmArgs args{x.data(), n, ms[i].get(), y.data()};
    ThreadPool::global().parallel_for(ms[i]->tiles(), [&](int64_t t0, int64_t t1) { fn(args, t0, t1); });
  });
  state.SetLabel(std::string(sol->name));
}

// Decode of one MoE layer's gate and up projections (Qwen3-30B-A3B: 8
// experts of 768 x 2048): every thread streams its own row range of every
// expert in one parallel_for, as the model's expert FFN does.
void BM_Int4Experts(benchmark::State& state, NumericPath path) {
  const int64_t rows = state.range(0), cols = state.range(1), experts = state.range(2);
  const Solution* sol = best_solution(path);
  const Int4GemmFn fn = sol->kernel(kGemmW4a16G32);
  const size_t one = Int4Matrix(rows, cols, Int4ScaleType::BF16).nbytes();
  const auto ms = random_int4(rows, cols, std::max(size_t(experts), cold_copies(one)));
  std::vector<float> x(size_t(cols), 0.5f), y(size_t(rows * experts));
  const int threads = ThreadPool::global().size();
  run_paired(state, one * size_t(experts), 0, 1, ms.size(), [&](size_t call) {
    const size_t first = call * size_t(experts);
    ThreadPool::global().parallel_for(threads, [&](int64_t b, int64_t e) {
      for (int64_t th = b; th < e; ++th) {
        for (int64_t i = 0; i < experts; ++i) {
          const Int4Matrix& w = *ms[(first + size_t(i)) % ms.size()];
          const Int4GemmArgs args{x.data(), 1, &w, y.data() + i * rows};
          fn(args, w.tiles() * th / threads, w.tiles() * (th + 1) / threads);
        }
      }
    });
  });
  state.SetLabel(std::string(sol->name));
}

// BF16 weights through one named matmul solution (exact, bf16dot or
// f16fma), rows in 16-row blocks over the pool as matmul() splits them (and,
// for f16fma, activations converted once as matmul() does). The largest shape is
// the Qwen3 LM head (151936 x 2048, 622 MB), what decode of a shallow model
// mostly reads.
void BM_Bf16(benchmark::State& state, std::string_view solution) {
  const int64_t rows = state.range(0), cols = state.range(1), n = state.range(2);
  MatmulFn fn = nullptr;
  bool f16 = false;
  for (const Solution* s : runnable_solutions(kGemmBf16.name)) {
    if (s->name != solution) continue;
    fn = s->kernel(kGemmBf16);
    f16 = s->path == NumericPath::F16Fma;
  }
  if (!fn) return state.SkipWithError("solution not supported on this CPU");
  const size_t bytes = size_t(rows * cols * 2);
  const size_t copies = n == 1 ? cold_copies(bytes) : 1;
  std::vector<std::vector<uint16_t>> ws(copies, std::vector<uint16_t>(size_t(rows * cols), f32_to_bf16(0.01f)));
  // As the model holds them: re-laid at load for the solution that reads panels.
  std::vector<WeightMatrix> matrices;
  std::vector<Bf16Copies> relaid;
  for (const auto& copy : ws) {
    matrices.push_back({DType::BF16, reinterpret_cast<const uint8_t*>(copy.data()), rows, cols, size_t(cols) * 2});
    relaid.push_back(relay_for(fn, matrices.back()));
  }
  std::vector<float> x(size_t(n * cols), 0.5f), y(size_t(n * rows));
  run_paired(state, bytes, 2.0 * double(rows * cols * n), n, copies, [&](size_t i) {
    MatmulArgs args{x.data(), n, matrices[i], y.data()};
    F16Activations converted;
    if (f16 && n > 1) {
      converted = f16_activations(x.data(), n, cols);
      args.f16 = &converted;
    }
    ThreadPool::global().parallel_for((rows + 15) / 16, [&](int64_t b0, int64_t b1) {
      fn(args, b0 * 16, std::min(rows, b1 * 16));
    });
  });
  state.SetLabel(std::string(solution));
}

// FP8 codes of Gaussian weights (as a checkpoint's would be) and their
// block scales; `copies` matrices over copies of the codes.
struct Fp8Copies {
  std::vector<std::vector<uint8_t>> codes;
  std::vector<std::unique_ptr<Fp8Matrix>> ms;
  Fp8Copies(int64_t rows, int64_t cols, size_t copies) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> w(size_t(rows * cols));
    for (auto& v : w) v = normal(rng);
    std::vector<uint8_t> c(w.size());
    std::vector<float> scales(size_t((rows + 127) / 128 * ((cols + 127) / 128)));
    quantize_fp8_block128(w.data(), rows, cols, c.data(), scales.data());
    codes.assign(copies, c);
    for (auto& cs : codes) ms.push_back(std::make_unique<Fp8Matrix>(cs.data(), rows, cols, scales));
  }
};

// One FP8 matrix times n tokens through matmul() (the selected
// gemm_fp8_e4m3_block128 solution), bandwidth counters as above.
void BM_Fp8(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1), n = state.range(2);
  const Fp8Copies w(rows, cols, n == 1 ? cold_copies(size_t(rows * cols)) : 1);
  std::vector<float> x(size_t(n * cols), 0.5f), y(size_t(n * rows));
  run_paired(state, w.ms[0]->nbytes(), 2.0 * double(rows * cols * n), n, w.ms.size(),
             [&](size_t i) { matmul(x.data(), n, WeightMatrix::of(*w.ms[i]), y.data()); });
  state.SetLabel(std::string(select(kGemmFp8E4m3Block128.name).name));
}

// FP8 against BF16 weights of the same shape, both through matmul() as the
// model calls it, on cold copies, alternating within each iteration.
// Counters: fp8_us and bf16_us (medians) and fp8/bf16, their ratio.
void BM_Fp8VsBf16(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1), n = state.range(2);
  const size_t copies = n == 1 ? cold_copies(size_t(rows * cols)) : 1;
  const Fp8Copies fp8(rows, cols, copies);
  std::vector<std::vector<uint16_t>> bf16(copies, std::vector<uint16_t>(size_t(rows * cols), f32_to_bf16(0.01f)));
  std::vector<float> x(size_t(n * cols), 0.5f), y(size_t(n * rows));
  std::vector<double> fp8_s, bf16_s;
  size_t i = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    matmul(x.data(), n, WeightMatrix::of(*fp8.ms[i]), y.data());
    fp8_s.push_back(seconds_since(t0));
    t0 = Clock::now();
    matmul(x.data(), n, {DType::BF16, reinterpret_cast<const uint8_t*>(bf16[i].data()), rows, cols, size_t(cols) * 2},
           y.data());
    bf16_s.push_back(seconds_since(t0));
    state.SetIterationTime(fp8_s.back());
    i = (i + 1) % copies;
  }
  state.counters["fp8_us"] = median(fp8_s) * 1e6;
  state.counters["bf16_us"] = median(bf16_s) * 1e6;
  state.counters["fp8/bf16"] = median(fp8_s) / median(bf16_s);
  state.SetLabel(fmt::format("{} vs {}", select(kGemmFp8E4m3Block128.name).name, select(kGemmBf16.name).name));
}

// Expert shapes of Qwen3-30B-A3B (gate/up 768x2048, down 2048x768) and its
// q_proj (4096x2048); GEMV (n = 1) and a 512-token GEMM.
#define SHAPES ->Args({768, 2048, 1})->Args({2048, 768, 1})->Args({4096, 2048, 1})->Args({151936, 2048, 1})->Args({768, 2048, 512})->Args({768, 2048, 32})->Args({2048, 768, 32})->UseManualTime()
BENCHMARK_CAPTURE(BM_Int4, exact, NumericPath::Exact) SHAPES;
BENCHMARK_CAPTURE(BM_Int4, w4a8, NumericPath::W4A8) SHAPES;
#define EXPERT_SHAPES ->Args({768, 2048, 16})->Args({2048, 768, 8})->UseManualTime()
BENCHMARK_CAPTURE(BM_Int4Experts, exact, NumericPath::Exact) EXPERT_SHAPES;
BENCHMARK_CAPTURE(BM_Int4Experts, w4a8, NumericPath::W4A8) EXPERT_SHAPES;
#define BF16_SHAPES ->Args({151936, 2048, 1})->Args({4096, 2048, 1})->Args({768, 2048, 512})->Args({4096, 2048, 512})->Args({2048, 4096, 512})->Args({768, 2048, 32})->UseManualTime()
BENCHMARK_CAPTURE(BM_Bf16, exact, "gemm_bf16_avx512") BF16_SHAPES;
BENCHMARK_CAPTURE(BM_Bf16, bf16dot, "gemm_bf16_avx512_bf16dot") BF16_SHAPES;
BENCHMARK_CAPTURE(BM_Bf16, f16fma, "gemm_bf16_avx512fp16_f16fma") BF16_SHAPES;
BENCHMARK(BM_Fp8) SHAPES;
// MiniMax-M2's expert (1536 x 3072) besides the Qwen3 ones.
BENCHMARK(BM_Fp8VsBf16)->Args({2048, 768, 1})->Args({768, 2048, 1})->Args({1536, 3072, 1})->Args({2048, 768, 512})->UseManualTime();

}  // namespace
}  // namespace strata

BENCHMARK_MAIN();
