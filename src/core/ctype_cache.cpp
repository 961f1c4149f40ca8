#include "core/ctype_cache.h"

#include <locale>
#include <mutex>

namespace strata {

void prime_ctype_narrow_cache() {
  static std::once_flag once;
  std::call_once(once, [] {
    // std::regex narrows with '\0' as the default, in the global locale.
    const auto& ctype = std::use_facet<std::ctype<char>>(std::locale());
    for (int c = 0; c < 256; ++c) ctype.narrow(char(c), '\0');
  });
}

}  // namespace strata
