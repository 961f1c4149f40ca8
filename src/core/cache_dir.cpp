#include "core/cache_dir.h"

#include <cstdlib>

namespace strata {

std::filesystem::path cache_dir(std::string_view what) {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::filesystem::path root =
      xdg && *xdg ? std::filesystem::path(xdg) : std::filesystem::path(home && *home ? home : "/tmp") / ".cache";
  return root / "strata" / what;
}

}  // namespace strata
