#include "workbench/trace.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

#include "core/error.h"
#include "workbench/json_fields.h"

namespace strata {

namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

constexpr std::pair<EvaluationStatus, std::string_view> kStatuses[] = {
    {EvaluationStatus::Passed, "PASSED"},
    {EvaluationStatus::IncorrectShape, "INCORRECT_SHAPE"},
    {EvaluationStatus::IncorrectNumerical, "INCORRECT_NUMERICAL"},
    {EvaluationStatus::IncorrectDtype, "INCORRECT_DTYPE"},
    {EvaluationStatus::RuntimeError, "RUNTIME_ERROR"},
    {EvaluationStatus::CompileError, "COMPILE_ERROR"},
    {EvaluationStatus::Timeout, "TIMEOUT"},
};

using json_fields::required;

// A float that may be serialized as "NaN", "Infinity" or "-Infinity".
double number(const Json& j, const char* key, const std::string& where) {
  const Json& v = required(j, key, where);
  if (v.is_number()) return v.get<double>();
  if (v == "NaN") return std::nan("");
  if (v == "Infinity") return INFINITY;
  if (v == "-Infinity") return -INFINITY;
  fail("{}.{}: expected a number", where, key);
}

Json number_json(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

Workload workload_from_json(const Json& j, const std::string& where) {
  Workload w;
  w.uuid = json_fields::string(j, "uuid", where);
  const Json& axes = required(j, "axes", where);
  if (!axes.is_object()) fail("{}.axes: expected an object", where);
  for (const auto& [name, v] : axes.items()) {
    if (!v.is_number_integer()) fail("{}.axes.{}: expected an integer", where, name);
    w.axes.emplace_back(name, v.get<int64_t>());
  }
  const Json& inputs = required(j, "inputs", where);
  if (!inputs.is_object()) fail("{}.inputs: expected an object", where);
  for (const auto& [name, spec] : inputs.items()) {
    const std::string at = where + ".inputs." + name;
    const std::string type = json_fields::string(spec, "type", at);
    WorkloadInput in;
    if (type == "random") {
      in.kind = WorkloadInput::Kind::Random;
    } else if (type == "scalar") {
      in.kind = WorkloadInput::Kind::Scalar;
      in.value = required(spec, "value", at);
      if (!in.value.is_number() && !in.value.is_boolean()) fail("{}.value: expected an int, float or bool", at);
    } else if (type == "safetensors") {
      in.kind = WorkloadInput::Kind::Safetensors;
      in.path = json_fields::string(spec, "path", at);
      in.tensor_key = json_fields::string(spec, "tensor_key", at);
    } else {
      fail("{}.type: '{}' is not random, scalar or safetensors", at, type);
    }
    w.inputs.emplace_back(name, std::move(in));
  }
  return w;
}

OJson workload_json(const Workload& w) {
  OJson axes = OJson::object(), inputs = OJson::object();
  for (const auto& [name, v] : w.axes) axes[name] = v;
  for (const auto& [name, in] : w.inputs) {
    switch (in.kind) {
      case WorkloadInput::Kind::Random: inputs[name] = {{"type", "random"}}; break;
      case WorkloadInput::Kind::Scalar: inputs[name] = {{"type", "scalar"}, {"value", in.value}}; break;
      case WorkloadInput::Kind::Safetensors:
        inputs[name] = {{"type", "safetensors"}, {"path", in.path}, {"tensor_key", in.tensor_key}};
        break;
    }
  }
  return {{"axes", axes}, {"inputs", inputs}, {"uuid", w.uuid}};
}

Evaluation evaluation_from_json(const Json& j, const std::string& where) {
  Evaluation e;
  const std::string status = json_fields::string(j, "status", where);
  auto it = std::find_if(std::begin(kStatuses), std::end(kStatuses), [&](const auto& s) { return s.second == status; });
  if (it == std::end(kStatuses)) fail("{}.status: '{}' is not a FlashInfer-Trace status", where, status);
  e.status = it->first;
  const Json& env = required(j, "environment", where);
  e.hardware = json_fields::string(env, "hardware", where + ".environment");
  const Json& libs = required(env, "libs", where + ".environment");
  if (!libs.is_object()) fail("{}.environment.libs: expected an object", where);
  for (const auto& [k, v] : libs.items()) {
    if (!v.is_string()) fail("{}.environment.libs.{}: expected a string", where, k);
    e.libs[k] = v.get<std::string>();
  }
  e.timestamp = json_fields::string(j, "timestamp", where);
  e.log = j.contains("log") ? json_fields::string(j, "log", where) : "";
  const bool passed = e.status == EvaluationStatus::Passed;
  const bool needs_correctness = passed || e.status == EvaluationStatus::IncorrectNumerical;
  const auto c = j.find("correctness");
  const bool has_correctness = c != j.end() && !c->is_null();
  if (has_correctness != needs_correctness) {
    fail("{}: status {} {} correctness", where, status, needs_correctness ? "requires" : "forbids");
  }
  if (has_correctness) {
    const std::string at = where + ".correctness";
    e.correctness = Evaluation::Correctness{number(*c, "max_relative_error", at), number(*c, "max_absolute_error", at),
                                            c->value("extra", Json(nullptr))};
  }
  const auto p = j.find("performance");
  const bool has_performance = p != j.end() && !p->is_null();
  if (has_performance != passed) fail("{}: status {} {} performance", where, status, passed ? "requires" : "forbids");
  if (has_performance) {
    const std::string at = where + ".performance";
    e.performance = Evaluation::Performance{number(*p, "latency_ms", at), number(*p, "reference_latency_ms", at),
                                            number(*p, "speedup_factor", at)};
  }
  return e;
}

OJson evaluation_json(const Evaluation& e) {
  OJson libs = OJson::object();
  for (const auto& [k, v] : e.libs) libs[k] = v;
  OJson j = {{"status", status_name(e.status)},
             {"environment", {{"hardware", e.hardware}, {"libs", libs}}},
             {"timestamp", e.timestamp},
             {"log", e.log}};
  if (e.correctness) {
    j["correctness"] = {{"max_relative_error", number_json(e.correctness->max_relative_error)},
                        {"max_absolute_error", number_json(e.correctness->max_absolute_error)},
                        {"extra", e.correctness->extra}};
  } else {
    j["correctness"] = nullptr;
  }
  if (e.performance) {
    j["performance"] = {{"latency_ms", number_json(e.performance->latency_ms)},
                        {"reference_latency_ms", number_json(e.performance->reference_latency_ms)},
                        {"speedup_factor", number_json(e.performance->speedup_factor)}};
  } else {
    j["performance"] = nullptr;
  }
  return j;
}

}  // namespace

std::string_view status_name(EvaluationStatus s) {
  for (const auto& [status, name] : kStatuses)
    if (status == s) return name;
  return "?";
}

int64_t Workload::axis(const std::string& name) const {
  for (const auto& [n, v] : axes)
    if (n == name) return v;
  fail("workload {}: no axis '{}'", uuid, name);
}

void Workload::check_against(const Definition& def, const std::string& where) const {
  for (const DefinitionAxis& a : def.axes) {
    if (a.is_const) continue;
    auto it = std::find_if(axes.begin(), axes.end(), [&](const auto& p) { return p.first == a.name; });
    if (it == axes.end()) fail("{}: var axis '{}' of {} missing", where, a.name, def.name);
    if (it->second <= 0) fail("{}: axis '{}' = {} must be positive", where, a.name, it->second);
  }
  for (const auto& [name, v] : axes) {
    const DefinitionAxis* a = def.axis(name);
    if (!a || a->is_const) fail("{}: '{}' is not a var axis of {}", where, name, def.name);
  }
  if (inputs.size() != def.inputs.size()) {
    fail("{}: {} inputs, {} has {}", where, inputs.size(), def.name, def.inputs.size());
  }
  for (const DefinitionTensor& t : def.inputs) {
    auto it = std::find_if(inputs.begin(), inputs.end(), [&](const auto& p) { return p.first == t.name; });
    if (it == inputs.end()) fail("{}: input '{}' of {} missing", where, t.name, def.name);
    if (it->second.kind == WorkloadInput::Kind::Scalar && t.shape) {
      fail("{}: input '{}' is a tensor in {} but a scalar here", where, t.name, def.name);
    }
    if (it->second.kind == WorkloadInput::Kind::Safetensors && !t.shape) {
      fail("{}: input '{}' is a scalar in {} but a tensor here", where, t.name, def.name);
    }
  }
}

Trace Trace::from_json(const Json& j, const std::string& where) {
  Trace t;
  t.definition = json_fields::string(j, "definition", where);
  t.workload = workload_from_json(required(j, "workload", where), where + ".workload");
  const Json& solution = required(j, "solution", where);
  if (!solution.is_null()) {
    if (!solution.is_string()) fail("{}.solution: expected a string or null", where);
    t.solution = solution.get<std::string>();
  }
  const Json& evaluation = required(j, "evaluation", where);
  if (!evaluation.is_null()) t.evaluation = evaluation_from_json(evaluation, where + ".evaluation");
  if (t.solution.has_value() != t.evaluation.has_value()) {
    fail("{}: a trace has both a solution and an evaluation, or neither (a workload)", where);
  }
  return t;
}

OJson Trace::to_json() const {
  return {{"definition", definition},
          {"workload", workload_json(workload)},
          {"solution", solution ? OJson(*solution) : OJson(nullptr)},
          {"evaluation", evaluation ? evaluation_json(*evaluation) : OJson(nullptr)}};
}

std::string trace_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm local{};
  localtime_r(&t, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &local);
  return fmt::format("{}.{:06d}", buf, micros);
}

}  // namespace strata
