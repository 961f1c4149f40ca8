#pragma once
// Scratch memory of forward passes: the large per-token buffers (activations,
// q/k/v, MoE gathers) as named buffers that grow to the largest batch seen
// and are then reused, so steps stop allocating them once warm; they are kept
// (never shrunk) for the runner's lifetime, outside the KV budget. Small
// per-call scheduling lists stay local to the blocks. The caller owns one per
// model runner (the executor keeps its own) and passes it into
// Model::forward; a buffer is valid until the next request for the same name.
// Not thread-safe: one forward at a time per workspace.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/attention_merge.h"

namespace strata {

enum class Scratch : uint8_t {
  Normed, Delta,                        // decoder layer
  Q, K, V, Attn,                        // attention
  AttnParts,                            // split-KV chunks' partial outputs
  QLatent, KvLatent, QAbsorbed, AttnLatent, HeadIn, HeadOut,  // latent attention (MLA)
  RouterLogits, RouteWeight, Gathered,  // MoE: router outputs, gathered token rows
  Gate, Up, ExpertOut, SharedOut,       // MoE and MLP intermediates
  kCount,
};
enum class IndexScratch : uint8_t { ExpertFirst, ExpertCursor, RouteOrder, GatheredAt, kCount };
// Activations quantized for W4A8 kernels (int4_gemm.h), gathered per expert.
struct Q8Rows {
  int8_t* q;      // [rows][cols]
  float* d;       // [rows][groups]
  int32_t* qsum;  // [rows][groups]
};

class Workspace {
 public:
  float* floats(Scratch name, size_t n) { return grow(floats_[size_t(name)], n); }
  int64_t* indices(IndexScratch name, size_t n) { return grow(indices_[size_t(name)], n); }
  int32_t* ids(size_t n) { return grow(ids_, n); }
  SoftmaxState* softmax_states(size_t n) { return grow(states_, n); }  // split-KV chunks' states
  Q8Rows q8_rows(size_t rows, size_t cols, size_t groups) {
    return {grow(q8_.q, rows * cols), grow(q8_.d, rows * groups), grow(q8_.qsum, rows * groups)};
  }

 private:
  template <typename T>
  static T* grow(std::vector<T>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
  std::vector<float> floats_[size_t(Scratch::kCount)];
  std::vector<int64_t> indices_[size_t(IndexScratch::kCount)];
  std::vector<int32_t> ids_;
  std::vector<SoftmaxState> states_;
  struct Q8Buffers {
    std::vector<int8_t> q;
    std::vector<float> d;
    std::vector<int32_t> qsum;
  };
  Q8Buffers q8_;
};

}  // namespace strata
