#pragma once
// Definitions' Python references, run as the expected outputs the way
// flashinfer-bench does, so that strata's solutions (its scalar reference
// included) are checked against the definition rather than against strata's
// own code. One Python process (PyTorch) serves every call of a bench run:
// torch imports once, and a reference that crashes Python is reported
// rather than taking the runner with it. Tensors travel as raw files in a
// temporary folder.
#include <memory>
#include <string>
#include <vector>

#include "workbench/definition.h"
#include "workbench/tensor_data.h"

namespace strata {

class PythonReference {
 public:
  // Starts the process; throws Error when it cannot start or torch does
  // not import (the message says why). Each call may take `timeout_seconds`.
  explicit PythonReference(double timeout_seconds);
  ~PythonReference();
  PythonReference(const PythonReference&) = delete;
  PythonReference& operator=(const PythonReference&) = delete;

  // What the traces' environment records, e.g. "python3 torch 1.13.1".
  const std::string& description() const { return description_; }

  // The reference's outputs on `inputs`, shaped as `outputs` (zeros whose
  // dtypes and shapes the definition gives). Throws Error with Python's
  // message when the reference fails, returns something else than the
  // definition declares, or runs past the timeout; the process is
  // restarted after a crash or a timeout.
  std::vector<TensorData> run(const Definition& def, const std::vector<TensorData>& inputs,
                              std::vector<TensorData> outputs);

 private:
  void start();
  void stop();
  std::string read_line(double seconds);

  double timeout_seconds_;
  std::string dir_, description_;
  int pid_ = -1, to_python_ = -1, from_python_ = -1;
  std::string pending_;  // bytes read past the last line
  int calls_ = 0;
};

}  // namespace strata
