#include "workbench/definition.h"

#include <algorithm>
#include <regex>
#include <set>

#include "core/error.h"
#include "workbench/json_fields.h"

namespace strata {

const std::vector<std::string> kTraceDtypes = {"float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2",
                                               "float4_e2m1", "int64", "int32", "int16", "int8", "bool"};

namespace {

using Json = nlohmann::ordered_json;

using json_fields::non_empty_string;
using json_fields::optional_string;
using json_fields::optional_strings;
using json_fields::required;

std::vector<DefinitionTensor> tensors(const Json& j, const std::string& where, const std::vector<DefinitionAxis>& axes) {
  if (!j.is_object()) fail("{}: expected an object of tensors", where);
  std::vector<DefinitionTensor> out;
  for (const auto& [name, spec] : j.items()) {
    const std::string at = where + "." + name;
    if (!spec.is_object()) fail("{}: expected {{\"shape\", \"dtype\"}}", at);
    DefinitionTensor t{name, std::nullopt, "", optional_string(spec, "description", at)};
    const Json& shape = required(spec, "shape", at);
    if (!shape.is_null()) {
      if (!shape.is_array()) fail("{}.shape: expected a list of axis names or null", at);
      t.shape.emplace();
      for (const Json& a : shape) {
        if (!a.is_string()) fail("{}.shape: expected a list of axis names or null", at);
        const std::string axis = a.get<std::string>();
        if (std::none_of(axes.begin(), axes.end(), [&](const DefinitionAxis& d) { return d.name == axis; })) {
          fail("{}.shape: axis '{}' is not declared in axes", at, axis);
        }
        t.shape->push_back(axis);
      }
    }
    t.dtype = non_empty_string(spec, "dtype", at);
    if (std::find(kTraceDtypes.begin(), kTraceDtypes.end(), t.dtype) == kTraceDtypes.end()) {
      fail("{}.dtype: '{}' is not a FlashInfer-Trace dtype (float32, float16, bfloat16, float8_e4m3fn, float8_e5m2, "
           "float4_e2m1, int64, int32, int16, int8, bool)",
           at, t.dtype);
    }
    out.push_back(std::move(t));
  }
  return out;
}

Json tensors_json(const std::vector<DefinitionTensor>& ts) {
  Json out = Json::object();
  for (const DefinitionTensor& t : ts) {
    Json spec = {{"shape", t.shape ? Json(*t.shape) : Json(nullptr)}, {"dtype", t.dtype}};
    if (t.description) spec["description"] = *t.description;
    out[t.name] = std::move(spec);
  }
  return out;
}

}  // namespace

Definition Definition::from_json(const Json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: a definition is a JSON object", source);
  Definition d;
  d.name = non_empty_string(j, "name", source);
  const std::string where = source + " (" + d.name + ")";
  d.op_type = non_empty_string(j, "op_type", where);
  const Json& axes = required(j, "axes", where);
  if (!axes.is_object()) fail("{}: axes: expected an object", where);
  for (const auto& [name, spec] : axes.items()) {
    const std::string at = where + ": axes." + name;
    if (!spec.is_object()) fail("{}: expected {{\"type\": \"const\"|\"var\"}}", at);
    const std::string type = non_empty_string(spec, "type", at);
    DefinitionAxis a{name, type == "const", 0, optional_string(spec, "description", at)};
    if (type == "const") {
      const Json& v = required(spec, "value", at);
      if (!v.is_number_integer() || v.get<int64_t>() < 0) fail("{}.value: expected an integer >= 0", at);
      a.value = v.get<int64_t>();
    } else if (type != "var") {
      fail("{}.type: '{}' is neither const nor var", at, type);
    }
    d.axes.push_back(std::move(a));
  }
  d.inputs = tensors(required(j, "inputs", where), where + ": inputs", d.axes);
  d.outputs = tensors(required(j, "outputs", where), where + ": outputs", d.axes);
  for (const DefinitionTensor& o : d.outputs) {
    for (const DefinitionTensor& i : d.inputs) {
      if (i.name == o.name) fail("{}: '{}' is both an input and an output", where, o.name);
    }
  }
  d.reference = non_empty_string(j, "reference", where);
  // The Python check (ast) is the validator's; this one needs no Python.
  static const std::regex top_level_run(R"((^|\n)def run\()");
  if (!std::regex_search(d.reference, top_level_run)) fail("{}: reference has no top-level 'def run('", where);
  d.tags = optional_strings(j, "tags", where);
  d.constraints = optional_strings(j, "constraints", where);
  d.description = optional_string(j, "description", where);
  return d;
}

Json Definition::to_json() const {
  Json j = {{"name", name}};
  if (description) j["description"] = *description;
  j["op_type"] = op_type;
  if (tags) j["tags"] = *tags;
  Json ax = Json::object();
  for (const DefinitionAxis& a : axes) {
    Json spec = {{"type", a.is_const ? "const" : "var"}};
    if (a.is_const) spec["value"] = a.value;
    if (a.description) spec["description"] = *a.description;
    ax[a.name] = std::move(spec);
  }
  j["axes"] = std::move(ax);
  if (constraints) j["constraints"] = *constraints;
  j["inputs"] = tensors_json(inputs);
  j["outputs"] = tensors_json(outputs);
  j["reference"] = reference;
  return j;
}

const DefinitionAxis* Definition::axis(const std::string& axis_name) const {
  for (const DefinitionAxis& a : axes)
    if (a.name == axis_name) return &a;
  return nullptr;
}

std::optional<std::string> Definition::tag(const std::string& ns) const {
  if (!tags) return std::nullopt;
  for (const std::string& t : *tags)
    if (t.size() > ns.size() && t.compare(0, ns.size(), ns) == 0 && t[ns.size()] == ':') return t.substr(ns.size() + 1);
  return std::nullopt;
}

}  // namespace strata
