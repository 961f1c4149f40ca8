#include "workbench/dataset.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "core/error.h"
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

// Files of the other roots: nesting and the definition they name.
void check_other_roots(Dataset& d) {
  struct Root {
    const char* name;
    size_t depth;            // path parts below the root
    size_t op_type_part;     // which part is the op_type
    size_t definition_part;  // which part names the definition (a file stem for the last part)
    const char* extension;
    const char* pattern;
  };
  const Root roots[] = {
      {"workloads", 2, 0, 1, ".jsonl", "workloads/<op_type>/<definition>.jsonl"},
      {"solutions", 4, 1, 2, ".json", "solutions/<author>/<op_type>/<definition>/<solution>.json"},
      {"traces", 3, 1, 2, ".jsonl", "traces/<author>/<op_type>/<definition>.jsonl"},
      {"blob", 4, 1, 2, ".safetensors", "blob/workloads/<op_type>/<definition>/<definition>_<uuid>.safetensors"},
  };
  for (const Root& r : roots) {
    const fs::path dir = fs::path(d.root) / r.name;
    if (!fs::is_directory(dir)) continue;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::vector<std::string> parts = parts_below(dir, e.path());
      if (parts.size() != r.depth || e.path().extension() != r.extension ||
          (std::string(r.name) == "blob" && parts[0] != "workloads")) {
        d.errors.push_back(fmt::format("{}: expected {}", e.path().string(), r.pattern));
        continue;
      }
      if (r.definition_part == r.depth - 1) parts.back() = e.path().stem().string();
      const Definition* def = d.find(parts[r.definition_part]);
      if (!def) {
        d.errors.push_back(fmt::format("{}: no definition '{}'", e.path().string(), parts[r.definition_part]));
      } else if (def->op_type != parts[r.op_type_part]) {
        d.errors.push_back(fmt::format("{}: definition '{}' has op_type '{}'", e.path().string(), def->name, def->op_type));
      }
    }
  }
}

std::string python() {
  if (const char* p = std::getenv("STRATA_PYTHON"); p && *p) return p;
  return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

}  // namespace

const Definition* Dataset::find(const std::string& name) const {
  for (const Definition& d : definitions)
    if (d.name == name) return &d;
  return nullptr;
}

Dataset load_dataset(const std::string& root) {
  Dataset d{root, {}, {}, {}};
  if (!fs::is_directory(fs::path(root) / "definitions")) fail("{}: no definitions/ folder (not a FlashInfer-Trace dataset)", root);
  load_definitions(d);
  check_other_roots(d);
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
  const std::string cmd = fmt::format("'{}' '{}' '{}' {} 2>&1", python(), (dir / "check.py").string(),
                                      (dir / "definitions.json").string(), run ? "run" : "parse");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) fail("cannot start {}", python());
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  Json results;
  try {
    results = Json::parse(out.substr(out.rfind("\n[") == std::string::npos ? 0 : out.rfind("\n[") + 1));
  } catch (const nlohmann::json::exception&) {
    fail("{} could not check the references (exit status {}): {}", python(), status, out);
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
