#include "engine/ngram_proposer.h"

#include <algorithm>

#include "core/check.h"
#include "engine/sequence.h"

namespace strata {

NgramProposer::NgramProposer(int32_t lookup_min, int32_t lookup_max)
    : lookup_min_(lookup_min), lookup_max_(lookup_max) {
  check(1 <= lookup_min && lookup_min <= lookup_max, "ngram lookup lengths are ordered and positive", "{} > {}",
        lookup_min, lookup_max);
}

std::vector<int32_t> NgramProposer::propose(const Sequence& seq, int32_t max_tokens) {
  if (max_tokens <= 0) return {};
  tokens_.assign(seq.prompt.begin(), seq.prompt.end());
  tokens_.insert(tokens_.end(), seq.output.begin(), seq.output.end());
  const int32_t len = int32_t(tokens_.size());
  for (int32_t n = std::min(lookup_max_, len - 1); n >= lookup_min_; --n) {
    const int32_t* suffix = tokens_.data() + (len - n);
    // Earlier occurrences only: start at len - n - 1, latest first.
    for (int32_t at = len - n - 1; at >= 0; --at) {
      if (!std::equal(suffix, suffix + n, tokens_.data() + at)) continue;
      const int32_t from = at + n, to = std::min(len, from + max_tokens);
      return {tokens_.begin() + from, tokens_.begin() + to};
    }
  }
  return {};
}

}  // namespace strata
