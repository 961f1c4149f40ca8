#include "workbench/solution.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "workbench/json_fields.h"

namespace strata {

namespace {

using Json = nlohmann::json;

using json_fields::non_empty_string;
using json_fields::required;

std::vector<std::string> strings(const Json& j, const char* key, const std::string& where, bool needed) {
  if (needed) required(j, key, where);
  return json_fields::optional_strings(j, key, where).value_or(std::vector<std::string>{});
}

}  // namespace

TraceSolution TraceSolution::from_json(const Json& j, const std::string& where) {
  TraceSolution s;
  s.name = non_empty_string(j, "name", where);
  const std::string at = where + " (" + s.name + ")";
  s.definition = non_empty_string(j, "definition", at);
  s.author = non_empty_string(j, "author", at);
  s.description = json_fields::optional_string(j, "description", at);
  const Json& spec = required(j, "spec", at);
  const std::string sp = at + ".spec";
  s.spec.language = non_empty_string(spec, "language", sp);
  static const std::set<std::string> languages = {"python", "triton", "cpp", "cuda", "tilelang"};
  if (!languages.contains(s.spec.language)) {
    fail("{}.language: '{}' is not python, triton, cpp, cuda or tilelang", sp, s.spec.language);
  }
  s.spec.target_hardware = strings(spec, "target_hardware", sp, true);
  if (s.spec.target_hardware.empty()) fail("{}.target_hardware: at least one target", sp);
  s.spec.entry_point = non_empty_string(spec, "entry_point", sp);
  const size_t sep = s.spec.entry_point.find("::");
  if (sep == std::string::npos || sep == 0 || s.spec.entry_point.find("::", sep + 2) != std::string::npos ||
      sep + 2 == s.spec.entry_point.size()) {
    fail("{}.entry_point: '{}' is not '<file>::<function>'", sp, s.spec.entry_point);
  }
  s.spec.dependencies = strings(spec, "dependencies", sp, false);
  if (auto d = spec.find("destination_passing_style"); d != spec.end()) {
    if (!d->is_boolean()) fail("{}.destination_passing_style: expected true or false", sp);
    s.spec.destination_passing_style = d->get<bool>();
  }
  if (auto b = spec.find("binding"); b != spec.end() && !b->is_null()) {
    if (*b != "tvm-ffi" && *b != "torch") fail("{}.binding: expected tvm-ffi, torch or null", sp);
    s.spec.binding = b->get<std::string>();
  }
  const Json& sources = required(j, "sources", at);
  if (!sources.is_array() || sources.empty()) fail("{}.sources: expected a non-empty list", at);
  std::set<std::string> paths;
  for (const Json& src : sources) {
    TraceSolutionSource f{non_empty_string(src, "path", at + ".sources"), ""};
    const Json& content = required(src, "content", at + ".sources");
    if (!content.is_string()) fail("{}.sources.{}: content is not a string", at, f.path);
    f.content = content.get<std::string>();
    if (f.path.front() == '/' || f.path.find("..") != std::string::npos) {
      fail("{}.sources: '{}' must be a relative path without '..'", at, f.path);
    }
    if (!paths.insert(f.path).second) fail("{}.sources: '{}' appears twice", at, f.path);
    s.sources.push_back(std::move(f));
  }
  if (!paths.contains(s.entry_file())) fail("{}.entry_point: '{}' is not among the sources", sp, s.entry_file());
  return s;
}

nlohmann::ordered_json TraceSolution::to_json() const {
  nlohmann::ordered_json spec_json = {{"language", spec.language},
                                      {"target_hardware", spec.target_hardware},
                                      {"entry_point", spec.entry_point},
                                      {"dependencies", spec.dependencies},
                                      {"destination_passing_style", spec.destination_passing_style},
                                      {"binding", spec.binding ? nlohmann::ordered_json(*spec.binding) : nullptr}};
  nlohmann::ordered_json j = {{"name", name}, {"definition", definition}, {"author", author}};
  if (description) j["description"] = *description;
  j["spec"] = std::move(spec_json);
  nlohmann::ordered_json srcs = nlohmann::ordered_json::array();
  for (const TraceSolutionSource& s : sources) srcs.push_back({{"path", s.path}, {"content", s.content}});
  j["sources"] = std::move(srcs);
  return j;
}

std::string TraceSolution::entry_file() const { return spec.entry_point.substr(0, spec.entry_point.find("::")); }
std::string TraceSolution::entry_function() const { return spec.entry_point.substr(spec.entry_point.find("::") + 2); }

}  // namespace strata
