#pragma once
// What a test does when an oracle that scripts/install-deps installs (the
// oracle/ node packages, numpy, llama.cpp's source bundle) is missing: on a
// developer's machine it is skipped; under STRATA_REQUIRE_ORACLES=1 (set by
// scripts/test, hence CI) or CI=true it fails, so a broken install can never
// pass as a green run with skipped checks.
//
//   if (!fs::exists(path)) STRATA_ORACLE_MISSING(path.string() + " is missing");
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace strata {

inline bool oracles_required() {
  const char* require = std::getenv("STRATA_REQUIRE_ORACLES");
  const char* ci = std::getenv("CI");
  return (require && std::string(require) == "1") || (ci && std::string(ci) == "true");
}

}  // namespace strata

#define STRATA_ORACLE_MISSING(message)                                                                       \
  do {                                                                                                       \
    if (::strata::oracles_required()) GTEST_FAIL() << (message) << " (oracles are required: run scripts/install-deps)"; \
    GTEST_SKIP() << (message) << " (run scripts/install-deps)";                                            \
  } while (0)
