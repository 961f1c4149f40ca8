#pragma once
// llama.cpp's source tree, cloned once per build directory from the git
// bundle that ships inside the node-llama-cpp npm package (the same release
// as the oracle's binaries): real chat templates and test files.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace llama_source {

namespace fs = std::filesystem;

// The checkout's root, or an empty path when the bundle is not installed.
inline fs::path checkout() {
  const fs::path build_dir = fs::path(STRATA_BINARY).parent_path();
  const fs::path dir = build_dir / "llama-src-jinja";
  if (fs::exists(dir / "models" / "templates")) return dir;
  const fs::path bundle = fs::path(STRATA_SOURCE_DIR) / "oracle/node_modules/node-llama-cpp/llama/gitRelease.bundle";
  if (!fs::exists(bundle)) return {};
  const fs::path staging = build_dir / ("llama-src-jinja.tmp" + std::to_string(::getpid()));
  fs::remove_all(staging);
  const std::string cmd = "git clone --quiet '" + bundle.string() + "' '" + staging.string() + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return {};
  std::error_code ec;
  fs::rename(staging, dir, ec);  // another test process may have won the race
  fs::remove_all(staging);
  return dir;
}

// models/templates/ of the checkout (empty when there is none).
inline fs::path templates_dir() {
  const fs::path root = checkout();
  return root.empty() ? root : root / "models" / "templates";
}

}  // namespace llama_source
