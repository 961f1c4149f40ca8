#pragma once
// Watches the mapped model files for changes made under the mapping.
// Truncated: every later read of a lost page raises SIGBUS; without this the
// process dies with no word of which file. Reads cannot be retried (the
// weights are gone), so the handler names the file and the offset on stderr
// and exits with kMappedFileLostExitCode; SIGBUS elsewhere keeps its default
// action. Rewritten in place: the mapping shows the new bytes, so the
// weights change silently; changed_mapped_files() finds such files by their
// modification time (a file replaced by a rename is not one: the mapping
// keeps the old file).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace strata {

// sysexits.h's EX_IOERR.
inline constexpr int kMappedFileLostExitCode = 74;

// Registers [data, data + size) as a mapping of `path` (which must stay
// valid until unregistered); installs the handler on first use.
void watch_mapped_file(const uint8_t* data, size_t size, const char* path);
void unwatch_mapped_file(const uint8_t* data);

// The watched files whose bytes on disk changed since they were mapped.
std::vector<std::string> changed_mapped_files();

}  // namespace strata
