#pragma once
// Turns a SIGBUS on a mapped model file into a clear error. A file that is
// truncated while mapped makes every later read of its lost pages raise
// SIGBUS; without this the process dies with no word of which file. Reads
// cannot be retried (the weights are gone), so the handler names the file
// and the offset on stderr and exits with kMappedFileLostExitCode. SIGBUS
// elsewhere keeps its default action.
#include <cstddef>
#include <cstdint>

namespace strata {

// sysexits.h's EX_IOERR.
inline constexpr int kMappedFileLostExitCode = 74;

// Registers [data, data + size) as a mapping of `path` (which must stay
// valid until unregistered); installs the handler on first use.
void watch_mapped_file(const uint8_t* data, size_t size, const char* path);
void unwatch_mapped_file(const uint8_t* data);

}  // namespace strata
