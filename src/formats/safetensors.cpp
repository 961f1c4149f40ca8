#include "formats/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace strata {

static_assert(std::endian::native == std::endian::little, "safetensors is read in place");

namespace {

// Larger headers are not written by any real tool; the bound keeps a corrupt
// length from turning into a huge parse.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// safetensors spells the supported types exactly as dtype_name() does.
std::optional<DType> dtype_from_name(const std::string& name) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I8, DType::I16, DType::I32,
                  DType::I64, DType::U8, DType::BOOL, DType::F8_E4M3}) {
    if (dtype_name(t) == name) return t;
  }
  return std::nullopt;
}

// Reads a JSON array of non-negative integers, or fails naming the field.
std::vector<int64_t> read_uints(const nlohmann::json& entry, const char* field,
                                const std::string& path, const std::string& name) {
  auto it = entry.find(field);
  if (it == entry.end() || !it->is_array()) {
    fail("{}: '{}' is missing or not an array (tensor '{}')", path, field, name);
  }
  std::vector<int64_t> out;
  for (const nlohmann::json& v : *it) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() > uint64_t(INT64_MAX)) {
      fail("{}: '{}' holds {} where a non-negative integer belongs (tensor '{}')", path, field,
           v.dump(), name);
    }
    out.push_back(v.get<int64_t>());
  }
  return out;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const uint64_t size = file_.size();
  if (size < 8) fail("{}: file truncated: no header length", path);
  uint64_t header_len;
  std::memcpy(&header_len, file_.data(), 8);
  if (header_len > size - 8) {
    fail("{}: header length {} runs past the end of the file ({} bytes)", path, header_len, size);
  }
  if (header_len > kMaxHeaderBytes) fail("{}: header length {} is absurd", path, header_len);
  const char* header = reinterpret_cast<const char*>(file_.data() + 8);
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(header, header + header_len);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: header is not valid JSON: {}", path, e.what());
  }
  if (!root.is_object()) fail("{}: header is not a JSON object", path);

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  struct Range {
    uint64_t begin, end;
    const TensorView* view;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") continue;
    if (!entry.is_object()) fail("{}: entry is not an object (tensor '{}')", path, name);
    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end() || !dtype_it->is_string()) {
      fail("{}: 'dtype' is missing or not a string (tensor '{}')", path, name);
    }
    const std::optional<DType> dtype = dtype_from_name(dtype_it->get<std::string>());
    if (!dtype) {
      fail("{}: unsupported dtype '{}' (tensor '{}')", path, dtype_it->get<std::string>(), name);
    }
    TensorView t;
    t.name = name;
    t.dtype = *dtype;
    t.file = path;
    t.shape = read_uints(entry, "shape", path, name);
    const int64_t numel = checked_numel(t.shape);
    if (numel < 0) fail("{}: absurd shape {} (tensor '{}')", path, t.shape_str(), name);
    const std::vector<int64_t> offsets = read_uints(entry, "data_offsets", path, name);
    if (offsets.size() != 2 || offsets[0] > offsets[1]) {
      fail("{}: 'data_offsets' must be [begin, end] with begin <= end (tensor '{}')", path, name);
    }
    const uint64_t begin = offsets[0], end = offsets[1];
    if (end > data_size) {
      fail("{}: data [{}, {}) runs past the end of the data section ({} bytes) (tensor '{}')",
           path, begin, end, data_size, name);
    }
    t.nbytes = size_t(dtype_bytes(t.dtype, numel));
    if (end - begin != t.nbytes) {
      fail("{}: data holds {} bytes but {} {} needs {} (tensor '{}')", path, end - begin,
           dtype_name(t.dtype), t.shape_str(), t.nbytes, name);
    }
    t.data = file_.data() + data_start + begin;
    auto [it, inserted] = tensors_.emplace(name, std::move(t));
    ranges.push_back({begin, end, &it->second});
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i - 1].end > ranges[i].begin) {
      fail("{}: data of tensors '{}' and '{}' overlap (tensor '{}')", path,
           ranges[i - 1].view->name, ranges[i].view->name, ranges[i].view->name);
    }
  }
}

}  // namespace strata
