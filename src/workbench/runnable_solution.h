#pragma once
// A solution the runner can call: `prepare` does once per input set what
// serving does once at load (weights re-laid into the solution's layout),
// and returns the call that is timed, writing the definition's outputs.
// Inputs outlive the prepared call.
#include <functional>
#include <string>
#include <vector>

#include "workbench/tensor_data.h"

namespace strata {

using PreparedCall = std::function<void(std::vector<TensorData>& outputs)>;

struct RunnableSolution {
  std::string name, author;
  std::string builtin;  // strata's own: the registry solution it runs (empty for out-of-tree ones)
  std::vector<std::string> target_hardware;
  std::function<PreparedCall(const std::vector<TensorData>& inputs)> prepare;
};

}  // namespace strata
