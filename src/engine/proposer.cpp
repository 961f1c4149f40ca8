#include "engine/proposer.h"

#include "core/check.h"
#include "engine/ngram_proposer.h"
#include "engine/speculative_config.h"

namespace strata {

std::unique_ptr<Proposer> make_proposer(const SpeculativeConfig& config) {
  check(config.method == "ngram", "speculative configs name a known method", "method '{}'", config.method);
  return std::make_unique<NgramProposer>(config.prompt_lookup_min, config.prompt_lookup_max);
}

}  // namespace strata
