#pragma once
// A speculative-decoding proposer: guesses the tokens that follow a
// sequence, for the next decode step to verify (see Engine). Proposals cost
// nothing when wrong beyond the rows verifying them, so a proposer may guess freely.
#include <cstdint>
#include <memory>
#include <vector>

namespace strata {

struct Sequence;
struct SpeculativeConfig;

class Proposer {
 public:
  virtual ~Proposer() = default;
  // Up to max_tokens tokens likely to follow seq's prompt and output
  // (fewer, or none, when it has no good guess).
  virtual std::vector<int32_t> propose(const Sequence& seq, int32_t max_tokens) = 0;
};

// The proposer of config.method (config.enabled() must hold).
std::unique_ptr<Proposer> make_proposer(const SpeculativeConfig& config);

}  // namespace strata
