#include "workbench/dataset.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "core/error.h"
#include "workbench/command_output.h"
#include "workbench/reference_check_py.h"

namespace strata {

namespace fs = std::filesystem;

namespace {

using Json = nlohmann::ordered_json;

// The parts of `file` below `dir`.
std::vector<std::string> parts_below(const fs::path& dir, const fs::path& file) {
  std::vector<std::string> out;
  for (const fs::path& p : fs::relative(file, dir)) out.push_back(p.string());
  return out;
}

void load_definitions(Dataset& d) {
  const fs::path dir = fs::path(d.root) / "definitions";
  std::map<std::string, std::string> seen;  // name -> file
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    const std::string file = e.path().string();
    const std::vector<std::string> parts = parts_below(dir, e.path());
    try {
      std::ifstream in(e.path());
      Json j;
      try {
        j = Json::parse(in);
      } catch (const nlohmann::json::exception& ex) {
        fail("{}: not JSON: {}", file, ex.what());
      }
      Definition def = Definition::from_json(j, file);
      if (parts.size() != 2 || parts[0] != def.op_type || parts[1] != def.name + ".json") {
        fail("{}: expected at definitions/{}/{}.json (op_type/name)", file, def.op_type, def.name);
      }
      if (auto [it, fresh] = seen.emplace(def.name, file); !fresh) {
        fail("{}: definition '{}' is also defined in {}", file, def.name, it->second);
      }
      if (!def.description) d.warnings.push_back(fmt::format("{}: no description", file));
      d.definitions.push_back(std::move(def));
    } catch (const Error& ex) {
      d.errors.push_back(ex.what());
    }
  }
}

// The files under one of the other roots, nested as `pattern` says; each
// problem is recorded and the file skipped.
struct RootFile {
  fs::path path;
  std::vector<std::string> parts;  // below the root; the last without its extension
  const Definition* definition;
};

std::vector<RootFile> root_files(Dataset& d, const char* root, size_t depth, size_t op_type_part,
                                 size_t definition_part, const char* extension, const char* pattern) {
  std::vector<RootFile> out;
  const fs::path dir = fs::path(d.root) / root;
  if (!fs::is_directory(dir)) return out;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::vector<std::string> parts = parts_below(dir, e.path());
    if (parts.size() != depth || e.path().extension() != extension ||
        (std::string_view(root) == "blob" && parts[0] != "workloads")) {
      d.errors.push_back(fmt::format("{}: expected {}", e.path().string(), pattern));
      continue;
    }
    parts.back() = e.path().stem().string();
    const Definition* def = d.find(parts[definition_part]);
    if (!def) {
      d.errors.push_back(fmt::format("{}: no definition '{}'", e.path().string(), parts[definition_part]));
    } else if (def->op_type != parts[op_type_part]) {
      d.errors.push_back(fmt::format("{}: definition '{}' has op_type '{}'", e.path().string(), def->name, def->op_type));
    } else {
      out.push_back({e.path(), std::move(parts), def});
    }
  }
  return out;
}

// Each non-empty line of a JSONL file as a Trace of `def`.
void read_traces(Dataset& d, const RootFile& f, bool workloads, std::vector<Trace>& out) {
  std::ifstream in(f.path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", f.path.string(), n);
    try {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& ex) {
        fail("{}: not JSON: {}", where, ex.what());
      }
      Trace t = Trace::from_json(j, where);
      if (t.definition != f.definition->name) fail("{}: definition '{}' in the file of {}", where, t.definition, f.definition->name);
      if (workloads == t.solution.has_value()) {
        fail("{}: {}", where, workloads ? "a workload has no solution or evaluation" : "a trace needs a solution and an evaluation");
      }
      t.workload.check_against(*f.definition, where);
      for (const auto& [name, input] : t.workload.inputs) {
        if (input.kind == WorkloadInput::Kind::Safetensors && !fs::exists(fs::path(d.root) / input.path)) {
          fail("{}: input '{}': blob {} not found", where, name, input.path);
        }
      }
      if (!workloads && !d.find_solution(*t.solution)) fail("{}: no solution '{}' in solutions/", where, *t.solution);
      out.push_back(std::move(t));
    } catch (const Error& ex) {
      d.errors.push_back(ex.what());
    }
  }
}

void load_other_roots(Dataset& d) {
  for (const RootFile& f : root_files(d, "workloads", 2, 0, 1, ".jsonl", "workloads/<op_type>/<definition>.jsonl")) {
    read_traces(d, f, true, d.workloads);
  }
  for (const RootFile& f : root_files(d, "solutions", 4, 1, 2, ".json",
                                      "solutions/<author>/<op_type>/<definition>/<solution>.json")) {
    try {
      std::ifstream in(f.path);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(in);
      } catch (const nlohmann::json::exception& ex) {
        fail("{}: not JSON: {}", f.path.string(), ex.what());
      }
      TraceSolution s = TraceSolution::from_json(j, f.path.string());
      if (s.author != f.parts[0] || s.definition != f.parts[2] || s.name != f.parts[3]) {
        fail("{}: expected at solutions/{}/{}/{}/{}.json (author/op_type/definition/name)", f.path.string(), s.author,
             f.definition->op_type, s.definition, s.name);
      }
      if (d.find_solution(s.name)) fail("{}: solution '{}' appears twice", f.path.string(), s.name);
      d.solutions.push_back(std::move(s));
    } catch (const Error& ex) {
      d.errors.push_back(ex.what());
    }
  }
  for (const RootFile& f : root_files(d, "traces", 3, 1, 2, ".jsonl", "traces/<author>/<op_type>/<definition>.jsonl")) {
    read_traces(d, f, false, d.traces);
  }
  root_files(d, "blob", 4, 1, 2, ".safetensors",
             "blob/workloads/<op_type>/<definition>/<definition>_<uuid>.safetensors");
}

}  // namespace

std::string workbench_python() {
  if (const char* p = std::getenv("STRATA_PYTHON"); p && *p) return p;
  return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

const TraceSolution* Dataset::find_solution(const std::string& name) const {
  for (const TraceSolution& s : solutions)
    if (s.name == name) return &s;
  return nullptr;
}

const Definition* Dataset::find(const std::string& name) const {
  for (const Definition& d : definitions)
    if (d.name == name) return &d;
  return nullptr;
}

Dataset load_dataset(const std::string& root) {
  Dataset d;
  d.root = root;
  if (!fs::is_directory(fs::path(root) / "definitions")) fail("{}: no definitions/ folder (not a FlashInfer-Trace dataset)", root);
  load_definitions(d);
  load_other_roots(d);
  return d;
}

std::vector<ReferenceCheck> check_references(const std::vector<Definition>& defs, bool run) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("strata_refcheck_{}", getpid());
  fs::create_directories(dir);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  Json all = Json::array();
  for (const Definition& d : defs) all.push_back(d.to_json());
  std::ofstream(dir / "definitions.json") << all.dump();
  std::ofstream(dir / "check.py") << kReferenceCheckPy;
  const CommandOutput ran = run_command(fmt::format("'{}' '{}' '{}' {}", workbench_python(), (dir / "check.py").string(),
                                                   (dir / "definitions.json").string(), run ? "run" : "parse"));
  const std::string& out = ran.text;
  const int status = ran.status;
  Json results;
  try {
    results = Json::parse(out.substr(out.rfind("\n[") == std::string::npos ? 0 : out.rfind("\n[") + 1));
  } catch (const nlohmann::json::exception&) {
    fail("{} could not check the references (exit status {}): {}", workbench_python(), status, out);
  }
  std::vector<ReferenceCheck> checks;
  for (const Json& r : results) {
    const std::string s = r.at("status").get<std::string>();
    const ReferenceCheck::Status st = s == "ran"      ? ReferenceCheck::Status::Ran
                                      : s == "parsed"  ? ReferenceCheck::Status::Parsed
                                      : s == "skipped" ? ReferenceCheck::Status::Skipped
                                                       : ReferenceCheck::Status::Error;
    checks.push_back({r.at("name").get<std::string>(), st, r.value("message", "")});
  }
  return checks;
}

}  // namespace strata
