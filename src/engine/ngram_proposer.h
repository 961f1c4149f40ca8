#pragma once
// Prompt lookup (vLLM's `ngram` method): the sequence's last n tokens, for n
// from prompt_lookup_max down to prompt_lookup_min, are searched for in its
// earlier tokens (prompt and output); at the most recent earlier occurrence
// of the longest suffix found, the tokens that followed it are proposed.
// Pays off when the output copies spans of the prompt (editing, quoting,
// summaries) or repeats itself.
#include "engine/proposer.h"

namespace strata {

class NgramProposer : public Proposer {
 public:
  NgramProposer(int32_t lookup_min, int32_t lookup_max);
  std::vector<int32_t> propose(const Sequence& seq, int32_t max_tokens) override;

 private:
  int32_t lookup_min_, lookup_max_;
  std::vector<int32_t> tokens_;  // prompt + output, reused between calls
};

}  // namespace strata
