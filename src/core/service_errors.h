#pragma once
// Failures of a service request, one type per party that can fix them, so
// the HTTP server picks the status class by type, never by the message:
//   InvalidRequest  the request can never run as sent (bad sampling values,
//                   too long for the model): the client's to fix, HTTP 400.
//   Unavailable     the service cannot take work now (its engine loop has
//                   stopped): HTTP 503, retry elsewhere or later.
// Both are Errors, so a CLI prints them on one line. Any other exception in
// a request is the server's (HTTP 500); a broken invariant is a Bug
// (core/check.h).
#include "core/error.h"

namespace strata {

struct InvalidRequest : Error {
  using Error::Error;
};

struct Unavailable : Error {
  using Error::Error;
};

// Throws InvalidRequest.
template <typename... Args>
[[noreturn]] void refuse(fmt::format_string<Args...> f, Args&&... args) {
  throw InvalidRequest(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace strata
