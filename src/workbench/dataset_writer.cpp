#include "workbench/dataset_writer.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace strata {

namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& path, const std::string& text, bool append) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path, append ? std::ios::app : std::ios::trunc);
  f << text;
  f.close();
  if (!f) fail("{}: write failed", path.string());
}

void append_lines(const fs::path& path, const std::vector<Trace>& traces) {
  std::string text;
  for (const Trace& t : traces) text += t.to_json().dump() + "\n";
  write_file(path, text, true);
}

}  // namespace

void write_definition(const std::string& root, const Definition& def) {
  write_file(fs::path(root) / "definitions" / def.op_type / (def.name + ".json"), def.to_json().dump(2) + "\n", false);
}

void write_solution(const std::string& root, const std::string& op_type, const TraceSolution& s) {
  write_file(fs::path(root) / "solutions" / s.author / op_type / s.definition / (s.name + ".json"), s.to_json().dump(2) + "\n",
             false);
}

void append_workloads(const std::string& root, const Definition& def, const std::vector<Workload>& workloads) {
  std::vector<Trace> traces;
  for (const Workload& w : workloads) traces.push_back(Trace{def.name, w, std::nullopt, std::nullopt});
  append_lines(fs::path(root) / "workloads" / def.op_type / (def.name + ".jsonl"), traces);
}

void copy_workload_blobs(const std::string& from, const std::string& to, const std::vector<Workload>& workloads) {
  for (const Workload& w : workloads) {
    for (const auto& [name, in] : w.inputs) {
      if (in.kind != WorkloadInput::Kind::Safetensors) continue;
      const fs::path target = fs::path(to) / in.path;
      fs::create_directories(target.parent_path());
      std::error_code ec;
      fs::copy_file(fs::path(from) / in.path, target, fs::copy_options::skip_existing, ec);
      if (ec) fail("{}: cannot copy blob to {}: {}", in.path, to, ec.message());
    }
  }
}

void append_traces(const std::string& root, const Definition& def, const std::string& author,
                   const std::vector<Trace>& traces) {
  append_lines(fs::path(root) / "traces" / author / def.op_type / (def.name + ".jsonl"), traces);
}

}  // namespace strata
