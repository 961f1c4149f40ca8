#pragma once
// A FlashInfer-Trace Definition: one kernel's contract (axes, named and typed
// inputs and outputs in calling order, a Python reference `run`). Parsed
// exactly as flashinfer-bench's pydantic schema accepts it
// (flashinfer_bench/data/definition.py): unknown keys are ignored, optional
// fields are written back only when they were given.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata {

struct DefinitionAxis {
  std::string name;
  bool is_const = false;
  int64_t value = 0;  // const axes only
  std::optional<std::string> description;
};

struct DefinitionTensor {
  std::string name;
  // Axis names; nullopt is a Python scalar (JSON null), empty a 0-d tensor.
  std::optional<std::vector<std::string>> shape;
  std::string dtype;  // one of kTraceDtypes
  std::optional<std::string> description;
};

struct Definition {
  std::string name, op_type;
  std::vector<DefinitionAxis> axes;
  std::vector<DefinitionTensor> inputs, outputs;
  std::string reference;
  std::optional<std::vector<std::string>> tags, constraints;
  std::optional<std::string> description;

  // Throws Error naming `source` and the offending field.
  static Definition from_json(const nlohmann::ordered_json& j, const std::string& source);
  nlohmann::ordered_json to_json() const;

  const DefinitionAxis* axis(const std::string& name) const;
  // The value of tag "<ns>:<value>", if present.
  std::optional<std::string> tag(const std::string& ns) const;
};

// The dtypes FlashInfer-Trace allows, exactly.
extern const std::vector<std::string> kTraceDtypes;

}  // namespace strata
