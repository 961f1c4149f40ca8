// bench serve's SSE parser: any bytes, fed whole and then in pieces (cut
// where the input's first byte says), must give the same events; a split
// "\r\n" must not make an extra line.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "bench/sse_parser.h"

using strata::bench::SseParser;

namespace {

std::vector<std::string> feed_all(std::string_view bytes, size_t piece) {
  SseParser parser;
  std::vector<std::string> events;
  for (size_t at = 0; at < bytes.size(); at += piece) {
    for (std::string& e : parser.feed(bytes.substr(at, piece))) events.push_back(std::move(e));
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 16;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (feed_all(stream, stream.size() + 1) != feed_all(stream, piece)) std::abort();
  return 0;
}
