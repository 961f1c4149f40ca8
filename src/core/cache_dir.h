#pragma once
// Where strata keeps what it computes once per machine (fitted cost
// profiles, compiled kernel solutions): $XDG_CACHE_HOME/strata/<what>, or
// ~/.cache/strata/<what>.
#include <filesystem>
#include <string_view>

namespace strata {

std::filesystem::path cache_dir(std::string_view what);

}  // namespace strata
