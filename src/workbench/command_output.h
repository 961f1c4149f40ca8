#pragma once
// Running a shell command and keeping what it prints (stdout and stderr), as
// the workbench does for the compiler and for Python.
#include <string>

namespace strata {

struct CommandOutput {
  int status;  // as pclose returns it
  std::string text;
};

// Throws Error when the command cannot be started.
CommandOutput run_command(const std::string& command);

}  // namespace strata
