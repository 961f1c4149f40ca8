#include "engine/proposer.h"

#include "core/error.h"
#include "engine/draft_proposer.h"
#include "engine/mtp_proposer.h"
#include "engine/ngram_proposer.h"
#include "engine/speculative_config.h"
#include "model/model.h"

namespace strata {

std::vector<std::vector<int32_t>> Proposer::propose_all(const std::vector<const Sequence*>& seqs,
                                                        const std::vector<int32_t>& max_tokens) {
  std::vector<std::vector<int32_t>> drafts;
  for (size_t i = 0; i < seqs.size(); ++i) drafts.push_back(propose(*seqs[i], max_tokens[i]));
  return drafts;
}

std::unique_ptr<Proposer> make_proposer(const SpeculativeConfig& config, const Model& target, int32_t num_kv_blocks,
                                        int32_t block_size, int32_t max_batched_tokens) {
  if (config.method == "ngram") return std::make_unique<NgramProposer>(config.prompt_lookup_min, config.prompt_lookup_max);
  if (config.method == "mtp") return std::make_unique<MtpProposer>(target, num_kv_blocks, block_size, max_batched_tokens);
  std::unique_ptr<Model> draft;
  try {
    draft = Model::load(config.model);
  } catch (const Error& e) {
    fail("--speculative-config: the draft model: {}", e.what());
  }
  return std::make_unique<DraftProposer>(std::move(draft), target, num_kv_blocks, block_size);
}

}  // namespace strata
