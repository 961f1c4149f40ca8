#pragma once
// A random F32 weight matrix that keeps its storage, for block and kernel tests.
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/matmul.h"

namespace strata {

struct Matrix {
  std::vector<float> w;
  WeightMatrix view;
  Matrix(int64_t rows, int64_t cols, std::mt19937& rng, float std) : w(size_t(rows * cols)) {
    std::normal_distribution<float> normal(0.0f, std);
    for (float& v : w) v = normal(rng);
    view = {DType::F32, reinterpret_cast<const uint8_t*>(w.data()), rows, cols, size_t(cols) * 4};
  }
  double at(int64_t r, int64_t c) const { return w[size_t(r * view.cols + c)]; }
};

}  // namespace strata
