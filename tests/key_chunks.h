#pragma once
// Ways to cut a key range [0, n_keys) into split-KV chunks, for the tests
// that merge chunked attention and compare it with the whole range: every
// key alone (short ranges only), chunks of 7 (a multiple of neither the
// AVX-512 kernels' 16-key tile nor the tests' block sizes), of 16 and of 37,
// and a first chunk of one key followed by all the others.
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace strata {

using KeyChunks = std::vector<std::pair<int32_t, int32_t>>;  // [begin, end) each

inline std::vector<KeyChunks> key_chunkings(int32_t n_keys) {
  std::vector<KeyChunks> out;
  for (int32_t length : {1, 7, 16, 37}) {
    if (length == 1 && n_keys > 64) continue;
    KeyChunks chunks;
    for (int32_t b = 0; b < n_keys; b += length) chunks.push_back({b, std::min(n_keys, b + length)});
    out.push_back(chunks);
  }
  if (n_keys > 1) out.push_back({{0, 1}, {1, n_keys}});
  return out;
}

}  // namespace strata
