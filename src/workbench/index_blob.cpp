#include "workbench/index_blob.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "formats/safetensors.h"

namespace strata {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, WorkloadInput>> write_index_blob(const Definition& def, const std::string& uuid,
                                                                   const std::vector<IndexTensor>& index,
                                                                   const std::string& root, double scalar) {
  const std::string rel = fmt::format("blob/workloads/{}/{}/{}_{}.safetensors", def.op_type, def.name, def.name, uuid);
  fs::create_directories((fs::path(root) / rel).parent_path());
  SafetensorsWriter blob((fs::path(root) / rel).string());
  for (const IndexTensor& t : index) blob.add_tensor(t.name, DType::I32, t.shape);
  for (const IndexTensor& t : index) blob.write_data(t.values.data(), t.values.size() * sizeof(int32_t));
  blob.finish();
  std::vector<std::pair<std::string, WorkloadInput>> inputs;
  for (const DefinitionTensor& t : def.inputs) {
    WorkloadInput in;
    if (!t.shape) {
      in.kind = WorkloadInput::Kind::Scalar;
      in.value = scalar;
    } else if (std::any_of(index.begin(), index.end(), [&](const IndexTensor& i) { return i.name == t.name; })) {
      in.kind = WorkloadInput::Kind::Safetensors;
      in.path = "./" + rel;
      in.tensor_key = t.name;
    }
    inputs.emplace_back(t.name, std::move(in));
  }
  return inputs;
}

}  // namespace strata
