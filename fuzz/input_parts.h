#pragma once
// Inputs that carry several files are their parts joined by NUL bytes
// (text parts first: binary formats may hold NULs, so they come last and
// take the rest). fuzz_seeds writes seeds the same way.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace strata::fuzz {

// The first `n - 1` NUL-terminated parts, then the remainder (possibly
// empty); fewer parts when the input runs out.
inline std::vector<std::string_view> split_parts(const uint8_t* data, size_t size, size_t n) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < n) {
    const size_t nul = rest.find('\0');
    if (nul == std::string_view::npos) break;
    parts.push_back(rest.substr(0, nul));
    rest.remove_prefix(nul + 1);
  }
  parts.push_back(rest);
  return parts;
}

}  // namespace strata::fuzz
