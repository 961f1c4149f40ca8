#pragma once
// Internal invariants. A failed check is a strata bug, never the input's
// fault: it throws Bug naming the invariant and where it was checked, so the
// report (and a server's HTTP 500) says what broke.
//
//   check(b.ref_count > 0, "a block is freed once per holder", "block {}", id);
#include <fmt/format.h>
#include <source_location>
#include <stdexcept>
#include <string>

namespace strata {

struct Bug : std::logic_error {
  using std::logic_error::logic_error;
};

// An invariant's name and the place it is checked (taken at the call site).
struct Invariant {
  Invariant(const char* name, std::source_location where = std::source_location::current())
      : name(name), where(where) {}
  const char* name;
  std::source_location where;
};

template <typename... Args>
void check(bool ok, Invariant invariant, fmt::format_string<Args...> detail, Args&&... args) {
  if (ok) return;
  throw Bug(fmt::format("strata bug: invariant \"{}\" broken at {}:{} ({}); please report it", invariant.name,
                        invariant.where.file_name(), invariant.where.line(),
                        fmt::format(detail, std::forward<Args>(args)...)));
}

}  // namespace strata
