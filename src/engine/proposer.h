#pragma once
// A speculative-decoding proposer: guesses the tokens that follow a
// sequence, for the next decode step to verify (see Engine). Proposals cost
// nothing when wrong beyond the rows verifying them, so a proposer may guess freely.
#include <cstdint>
#include <memory>
#include <vector>

namespace strata {

class Model;
struct StepPlan;
struct Sequence;
struct SpeculativeConfig;

class Proposer {
 public:
  virtual ~Proposer() = default;
  // Up to max_tokens tokens likely to follow seq's prompt and output
  // (fewer, or none, when it has no good guess).
  virtual std::vector<int32_t> propose(const Sequence& seq, int32_t max_tokens) = 0;
  // Drafts for all of `seqs` (up to max_tokens[i] tokens for seqs[i]), in
  // their order. One propose() each unless a proposer batches its passes.
  virtual std::vector<std::vector<int32_t>> propose_all(const std::vector<const Sequence*>& seqs,
                                                        const std::vector<int32_t>& max_tokens);
  // The sequence has finished, been aborted or been preempted (it is then
  // recomputed from the start): drop what is kept for it.
  virtual void release(int64_t /*seq_id*/) {}
  // After each step, once its tokens are sampled and its drafts verified:
  // hidden[i] holds the hidden states (before the final norm) of entry i's
  // tokens [token_begin, token_end), draft tokens included (the sequence
  // says which were accepted), or null when the entry did not run the
  // target's last layer. Valid during the call only. Proposers that draft
  // from the target's hidden states (mtp) keep what they need.
  virtual void observe(const StepPlan& /*plan*/, const std::vector<const float*>& /*hidden*/) {}
};

// The proposer of config.method (config.enabled() must hold), for `target`
// with a KV cache of num_kv_blocks blocks of block_size tokens (a draft
// model or the MTP module gets as many of its own) and steps of up to
// max_batched_tokens rows (the MTP module's passes too). Throws Error for a
// draft model that cannot load or does not fit the target, and for mtp on
// a target loaded without MTP modules.
std::unique_ptr<Proposer> make_proposer(const SpeculativeConfig& config, const Model& target, int32_t num_kv_blocks,
                                        int32_t block_size, int32_t max_batched_tokens);

}  // namespace strata
