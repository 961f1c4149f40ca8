#include "core/ctype_cache.h"

#include <locale>
#include <mutex>

namespace strata {

void prime_ctype_narrow_cache() {
  static std::once_flag once;
  std::call_once(once, [] {
    // The regexes use the global locale's facet. narrow() caches each
    // character's result whatever the default argument; widen() fills its
    // table on first use.
    const auto& ctype = std::use_facet<std::ctype<char>>(std::locale());
    for (int c = 0; c < 256; ++c) ctype.narrow(char(c), ' ');
    ctype.widen('a');
  });
}

}  // namespace strata
