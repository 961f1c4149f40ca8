#include "workbench/inputs.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/safetensors.h"

namespace strata {

namespace {

// Inputs drawn by rule rather than from a distribution.
bool is_positions(const std::string& name) { return name == "positions"; }
bool is_expert_ids(const std::string& name) { return name == "topk_ids"; }
bool is_packed(const std::string& name) { return name.ends_with("_packed"); }

bool drawable(const DefinitionTensor& t) {
  if (!t.shape || t.dtype.starts_with("float") || t.dtype == "bfloat16" || t.dtype == "bool") return true;
  return is_positions(t.name) || is_expert_ids(t.name) || is_packed(t.name);
}

std::string trace_dtype_of(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::F8_E4M3: return "float8_e4m3fn";
    case DType::I64: return "int64";
    case DType::I32: return "int32";
    case DType::I16: return "int16";
    case DType::I8: return "int8";
    case DType::BOOL: return "bool";
    default: fail("a workload blob holds {}, not a FlashInfer-Trace dtype", dtype_name(d));
  }
}

TensorData random_tensor(const Definition& def, const DefinitionTensor& t, std::vector<int64_t> shape, std::mt19937_64& rng) {
  TensorData out = TensorData::zeros(t.dtype, std::move(shape));
  const int64_t n = out.numel();
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float scale = t.name.ends_with("scale") ? 0.01f : 1.0f;
  if (is_packed(t.name) && t.dtype == "int32") {
    for (int64_t i = 0; i < n; ++i) out.as<uint32_t>()[i] = uint32_t(rng());
  } else if (is_positions(t.name)) {
    for (int64_t i = 0; i < n; ++i) out.as<int32_t>()[i] = int32_t(7 * i);
  } else if (is_expert_ids(t.name)) {
    const DefinitionAxis* experts = def.axis("num_experts");
    if (!experts || out.shape.size() != 2) fail("{}: cannot draw '{}' without a num_experts axis", def.name, t.name);
    std::vector<int32_t> ids(size_t(experts->value));
    for (int64_t r = 0; r < out.shape[0]; ++r) {
      std::iota(ids.begin(), ids.end(), 0);
      std::shuffle(ids.begin(), ids.end(), rng);
      std::copy_n(ids.begin(), out.shape[1], out.as<int32_t>() + r * out.shape[1]);
    }
  } else if (t.dtype == "float32") {
    for (int64_t i = 0; i < n; ++i) out.as<float>()[i] = normal(rng) * scale;
  } else if (t.dtype == "bfloat16" || t.dtype == "float16") {
    for (int64_t i = 0; i < n; ++i) store_float(t.dtype == "bfloat16" ? DType::BF16 : DType::F16, normal(rng) * scale, out.bytes.data(), i);
  } else if (t.dtype == "float8_e4m3fn") {
    for (int64_t i = 0; i < n; ++i) out.as<uint8_t>()[i] = f32_to_fp8_e4m3(std::clamp(normal(rng), -2.0f, 2.0f));
  } else if (t.dtype == "bool") {
    for (int64_t i = 0; i < n; ++i) out.as<uint8_t>()[i] = rng() & 1;
  } else {
    fail("{}: input '{}' ({}) cannot be drawn at random; the workload must give it", def.name, t.name, t.dtype);
  }
  return out;
}

TensorData scalar_tensor(const DefinitionTensor& t, const nlohmann::json& value) {
  TensorData out = TensorData::zeros(t.dtype, {});
  const double v = value.is_boolean() ? double(value.get<bool>()) : value.get<double>();
  if (t.dtype.starts_with("float")) {
    store_float(DType::F32, float(v), out.bytes.data(), 0);
    out.dtype = "float32";
  } else {
    out = TensorData::zeros("int64", {});
    out.as<int64_t>()[0] = int64_t(v);
  }
  return out;
}

}  // namespace

std::vector<TensorData> make_inputs(const Definition& def, const Workload& w, uint64_t seed, const std::string& root) {
  std::mt19937_64 rng(seed);
  std::vector<TensorData> out;
  for (const DefinitionTensor& t : def.inputs) {
    auto it = std::find_if(w.inputs.begin(), w.inputs.end(), [&](const auto& p) { return p.first == t.name; });
    const WorkloadInput random;
    const WorkloadInput& in = it == w.inputs.end() ? random : it->second;
    const std::vector<int64_t> shape = concrete_shape(t, def, w.axes);
    if (in.kind == WorkloadInput::Kind::Scalar) {
      out.push_back(scalar_tensor(t, in.value));
    } else if (in.kind == WorkloadInput::Kind::Safetensors) {
      const SafetensorsFile blob(root + "/" + in.path);
      const TensorView& v = blob.get(in.tensor_key);
      if (trace_dtype_of(v.dtype) != t.dtype || v.shape != shape) {
        fail("{}: blob tensor '{}' is {} {}, the definition wants {} for these axes", in.path, in.tensor_key,
             trace_dtype_of(v.dtype), v.shape_str(), t.dtype);
      }
      out.push_back({t.dtype, shape, std::vector<uint8_t>(v.data, v.data + v.nbytes)});
    } else if (!t.shape) {
      out.push_back(scalar_tensor(t, 0.125));
    } else {
      out.push_back(random_tensor(def, t, shape, rng));
    }
  }
  return out;
}

std::vector<Workload> synthetic_workloads(const Definition& def, const std::vector<int64_t>& sizes) {
  if (!std::all_of(def.inputs.begin(), def.inputs.end(), drawable)) return {};
  std::vector<Workload> out;
  for (int64_t n : sizes) {
    Workload w;
    w.uuid = fmt::format("synthetic-{}-{}", def.name, n);
    for (const DefinitionAxis& a : def.axes)
      if (!a.is_const) w.axes.emplace_back(a.name, n);
    for (const DefinitionTensor& t : def.inputs) w.inputs.emplace_back(t.name, WorkloadInput{});
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace strata
