#pragma once
// A FlashInfer-Trace Solution (flashinfer_bench/data/solution.py): one
// implementation of a definition, its sources inline, how to build and call
// it. (Named apart from the kernel registry's Solution, an in-tree variant.)
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata {

struct TraceSolutionSource {
  std::string path, content;
};

struct TraceSolution {
  std::string name, definition, author;
  std::optional<std::string> description;
  struct Spec {
    std::string language;  // python, triton, cpp, cuda or tilelang
    std::vector<std::string> target_hardware;
    std::string entry_point;  // "<file>::<function>"
    std::vector<std::string> dependencies;
    bool destination_passing_style = true;
    std::optional<std::string> binding;  // tvm-ffi, torch or null
  } spec;
  std::vector<TraceSolutionSource> sources;

  // Throws Error naming `where` and the field: languages and bindings as
  // upstream allows, at least one target, an entry point "<file>::<function>"
  // whose file is among the sources, relative source paths without "..",
  // unique.
  static TraceSolution from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::ordered_json to_json() const;

  std::string entry_file() const;
  std::string entry_function() const;
};

}  // namespace strata
