// matmul throughput on Qwen3-30B-A3B shapes (hidden 2048, expert FFN 768,
// q projection 4096 x 2048) for decode (n = 1), one expert's share of a
// 512-token prompt (n = 32) and prompt processing (n = 512), per weight
// dtype and kernel, on the global thread pool. Counters: GFLOP/s
// (2 * n * rows * cols per call) and weight GB/s.
// Attention per kernel, one KV head's GQA group (8 query heads, head_dim
// 128) on one thread: a causal 512-token prompt in blocks of 16 rows, and one
// decode row over 4096 cached positions. GFLOP/s counts 4 * head_dim per
// (query, key) pair.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"

namespace strata {
namespace {

struct MatmulShape {
  const char* name;
  int64_t rows, cols;
};
constexpr MatmulShape kShapes[] = {
    {"expert_gate_768x2048", 768, 2048},
    {"expert_down_2048x768", 2048, 768},
    {"q_proj_4096x2048", 4096, 2048},
};
constexpr DType kDtypes[] = {DType::F32, DType::BF16, DType::F16, DType::Q8_0, DType::Q4_0};

std::vector<uint8_t> random_weights(DType dtype, int64_t rows, int64_t cols) {
  std::mt19937 rng(1);
  std::vector<uint8_t> bytes(size_t(dtype_bytes(dtype, rows * cols)));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : bytes) b = uint8_t(byte(rng));
  // Finite values everywhere: small f16 scales / bf16 / f32 from a normal.
  std::normal_distribution<float> normal(0.0f, 0.05f);
  const int64_t n = rows * cols;
  if (dtype == DType::F32) {
    auto* f = reinterpret_cast<float*>(bytes.data());
    for (int64_t i = 0; i < n; ++i) f[i] = normal(rng);
  } else if (dtype == DType::F16 || dtype == DType::BF16) {
    auto* h = reinterpret_cast<uint16_t*>(bytes.data());
    for (int64_t i = 0; i < n; ++i) h[i] = dtype == DType::F16 ? f32_to_f16(normal(rng)) : f32_to_bf16(normal(rng));
  } else {
    const int block_bytes = dtype_info(dtype).block_bytes;
    for (size_t off = 0; off < bytes.size(); off += size_t(block_bytes)) {
      const uint16_t d = f32_to_f16(0.01f);
      std::memcpy(&bytes[off], &d, 2);
    }
  }
  return bytes;
}

void run_matmul(benchmark::State& state, MatmulFn fn, DType dtype, MatmulShape shape, int64_t n) {
  const auto bytes = random_weights(dtype, shape.rows, shape.cols);
  WeightMatrix w{dtype, bytes.data(), shape.rows, shape.cols, size_t(dtype_bytes(dtype, shape.cols))};
  // BF16 weights as the model holds them for the solution that reads panels.
  const Bf16Copies relaid = relay_for(fn, w);
  std::vector<float> x(size_t(n * shape.cols), 0.5f), y(size_t(n * shape.rows));
  const MatmulArgs args{x.data(), n, w, y.data()};
  constexpr int64_t kRowBlock = 16;  // as matmul() splits rows
  for (auto _ : state) {
    ThreadPool::global().parallel_for((w.rows + kRowBlock - 1) / kRowBlock, [&](int64_t b0, int64_t b1) {
      fn(args, b0 * kRowBlock, std::min(w.rows, b1 * kRowBlock));
    });
    benchmark::DoNotOptimize(y.data());
  }
  const double flops = 2.0 * double(n) * double(shape.rows) * double(shape.cols);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(double(bytes.size()) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void run_attention(benchmark::State& state, AttentionFn fn, bool prefill) {
  constexpr int64_t kHeadDim = 128, kGroup = 8, kBlockRows = 16;  // as attention_block makes its items
  const int64_t n_rows = prefill ? 512 : 1, n_pos = prefill ? 512 : 4096;
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> kv(size_t(2 * n_pos * kHeadDim)), q(size_t(n_rows * kGroup * kHeadDim)), out(q.size());
  for (auto& v : kv) v = normal(rng);
  for (auto& v : q) v = normal(rng);
  const int32_t table[] = {0};  // one block holding every position
  std::vector<int32_t> n_keys;
  for (int64_t r = 0; r < n_rows; ++r) n_keys.push_back(int32_t(n_pos - n_rows + r + 1));
  double pairs = 0;
  for (int32_t k : n_keys) pairs += double(k) * kGroup;
  for (auto _ : state) {
    for (int64_t r = 0; r < n_rows; r += kBlockRows) {
      const int64_t at = r * kGroup * kHeadDim;
      fn(AttentionArgs{kHeadDim, std::min(kBlockRows, n_rows - r), kGroup, &q[size_t(at)], &out[size_t(at)],
                       kGroup * kHeadDim, &n_keys[size_t(r)], kv.data(), kv.data() + n_pos * kHeadDim, table,
                       int32_t(n_pos), 0, kHeadDim, 0.088f});
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(4.0 * kHeadDim * pairs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// One benchmark per (shape, n, dtype, solution of the dtype's definition) the
// CPU supports; the scalar reference only at n = 1 (at n = 512 it takes
// seconds per call).
int register_all() {
  for (DType dtype : kDtypes) {
    const KernelDefinition<MatmulFn> def = gemm_definition(dtype);
    for (const Solution* solution : runnable_solutions(def.name)) {
      for (int64_t n : {1, 32, 512}) {
        if (solution->isa == Isa::Scalar && n > 1) continue;
        for (const MatmulShape& shape : kShapes) {
          const std::string name = std::string("matmul/") + shape.name + "/n" + std::to_string(n) + "/" +
                                   std::string(dtype_name(dtype)) + "/" + std::string(solution->name);
          benchmark::RegisterBenchmark(name.c_str(), run_matmul, solution->kernel(def), dtype, shape, n)
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
        }
      }
    }
  }
  for (const Solution* solution : runnable_solutions(kGqaPagedAttention.name)) {
    for (const bool prefill : {true, false}) {
      const std::string name = std::string("attention/") + (prefill ? "prefill_512" : "decode_ctx4096") + "/" +
                               std::string(solution->name);
      benchmark::RegisterBenchmark(name.c_str(), run_attention, solution->kernel(kGqaPagedAttention), prefill)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace strata

BENCHMARK_MAIN();
