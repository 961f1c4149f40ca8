#pragma once
// Internal invariants. A failed check is a strata bug, never the input's
// fault: it throws Bug naming the invariant and where it was checked, so the
// report (and a server's HTTP 500) says what broke.
//
//   check(b.ref_count > 0, "a block is freed once per holder", "block {}", id);
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace strata {

struct Bug : std::logic_error {
  using std::logic_error::logic_error;
};

// An invariant's name and the place it is checked (taken at the call site;
// the builtins, not std::source_location, which clang 14 lacks with
// libstdc++ 12 and the sanitizer and fuzz builds use clang).
struct Invariant {
  Invariant(const char* name, const char* file = __builtin_FILE(), int line = __builtin_LINE())
      : name(name), file(file), line(line) {}
  const char* name;
  const char* file;
  int line;
};

template <typename... Args>
void check(bool ok, Invariant invariant, fmt::format_string<Args...> detail, Args&&... args) {
  if (ok) return;
  throw Bug(fmt::format("strata bug: invariant \"{}\" broken at {}:{} ({}); please report it", invariant.name,
                        invariant.file, invariant.line,
                        fmt::format(detail, std::forward<Args>(args)...)));
}

}  // namespace strata
