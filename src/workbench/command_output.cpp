#include "workbench/command_output.h"

#include <cstdio>

#include "core/error.h"

namespace strata {

CommandOutput run_command(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) fail("cannot run {}", command);
  CommandOutput out{0, ""};
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.text.append(buf, n);
  out.status = pclose(p);
  return out;
}

}  // namespace strata
