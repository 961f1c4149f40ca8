#include "workbench/out_of_tree_solution.h"

#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <fmt/format.h>

#include "core/error.h"
#include "workbench/command_output.h"
#include "workbench/solution_abi.h"

namespace strata {

namespace fs = std::filesystem;

strata_solution_entry load_entry(const std::string& library, const std::string& function) {
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) fail("cannot load {}: {}", library, dlerror());
  void* sym = dlsym(handle, function.c_str());
  if (!sym) fail("{}: no C symbol '{}' (declare it extern \"C\")", library, function);
  return reinterpret_cast<strata_solution_entry>(sym);
}

CompiledSolution compile_solution(const TraceSolution& s, const std::string& build_dir) {
  CompiledSolution out;
  if (s.spec.language != "cpp") {
    out.log = fmt::format("language '{}' is not built by this runner (cpp only)", s.spec.language);
    return out;
  }
  if (!s.spec.destination_passing_style) {
    out.log = "the C ABI is destination-passing only (destination_passing_style: true)";
    return out;
  }
  std::string key;
  for (const TraceSolutionSource& src : s.sources) key += src.path + '\0' + src.content + '\0';
  const fs::path dir = fs::path(build_dir) / fmt::format("{}_{:016x}", s.name, std::hash<std::string>{}(key));
  const fs::path library = dir / "solution.so";
  bool any_cpp = false;
  std::string units;
  if (!fs::exists(library)) {
    fs::create_directories(dir);
    std::ofstream(dir / "strata_solution.h") << kSolutionAbiHeader;
    for (const TraceSolutionSource& src : s.sources) {
      fs::create_directories((dir / src.path).parent_path());
      std::ofstream(dir / src.path) << src.content;
    }
  }
  for (const TraceSolutionSource& src : s.sources) {
    const std::string ext = fs::path(src.path).extension().string();
    if (ext == ".c" || ext == ".cc" || ext == ".cpp" || ext == ".cxx") units += " '" + (dir / src.path).string() + "'";
    any_cpp = any_cpp || (ext != ".c" && ext != ".h");
  }
  if (units.empty()) {
    out.log = "no .c, .cc, .cpp or .cxx source to compile";
    return out;
  }
  if (!fs::exists(library)) {
    const std::string cmd = fmt::format("{} -O3 -march=native -fPIC -shared -I'{}'{} -o '{}.tmp'",
                                        any_cpp ? "c++ -std=c++20" : "cc -std=c11", dir.string(), units, library.string());
    const CommandOutput built = run_command(cmd);
    out.log = cmd + "\n" + built.text;
    if (built.status != 0) return out;
    fs::rename(library.string() + ".tmp", library);
  }
  const std::string function = s.entry_function();
  out.library = library.string();
  out.function = function;
  out.runnable = RunnableSolution{
      s.name, s.author, "", s.spec.target_hardware, [lib = library.string(), function](const std::vector<TensorData>& in) {
        // Loaded at the first call, in the runner's child: its initialisers run isolated too.
        return PreparedCall([lib, function, entry = strata_solution_entry(nullptr), &in](std::vector<TensorData>& outputs) mutable {
          if (!entry) entry = load_entry(lib, function);
          std::vector<strata_tensor> ins, outs;
          for (const TensorData& t : in) {
            ins.push_back({const_cast<uint8_t*>(t.bytes.data()), t.shape.data(), int32_t(t.shape.size()), t.dtype.c_str()});
          }
          for (TensorData& t : outputs) outs.push_back({t.bytes.data(), t.shape.data(), int32_t(t.shape.size()), t.dtype.c_str()});
          const int rc = entry(ins.data(), int32_t(ins.size()), outs.data(), int32_t(outs.size()));
          if (rc != 0) fail("the entry point returned {}", rc);
        });
      }};
  return out;
}

}  // namespace strata
