#pragma once
// A loaded decoder model. The forward pass is split so that the scheduler can
// run a batch through any contiguous range of layers and resume later:
//   embed(tokens) -> hidden;  forward(layers [a, b)) hidden -> hidden;  logits(hidden rows).
// hidden is a row-major [n_tokens, hidden_size] float buffer, updated in place.
#include <cstdint>
#include <memory>
#include <string>

#include "engine/sampling_params.h"
#include "model/batch_rows.h"
#include "model/config.h"

namespace strata {

class KVCache;
class Tokenizer;

struct LoadOptions {
  // Also load the checkpoint's multi-token-prediction modules
  // (model/mtp_tensors.h), for speculative decoding's mtp method; they are
  // skipped otherwise, so a checkpoint without their tensors still serves.
  bool mtp = false;
};

class Model {
 public:
  virtual ~Model();
  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // Sampling settings recommended by the checkpoint (HF generation_config.json:
  // do_sample, temperature, top_k, top_p, min_p); greedy when it has none.
  const SamplingParams& generation_defaults() const { return generation_defaults_; }

  virtual void embed(const int32_t* tokens, int64_t n, float* hidden) const = 0;
  virtual void forward(const BatchRows& rows, int64_t layer_begin, int64_t layer_end,
                       float* hidden, KVCache& kv) const = 0;
  // Final norm and LM head over `n` rows of hidden: logits is [n, vocab_size].
  virtual void logits(const float* hidden, int64_t n, float* logits) const = 0;
  // The final norm alone over `n` rows of hidden (out may not alias it):
  // the hidden states the MTP modules take, as vLLM's model output is normed.
  virtual void final_norm(const float* hidden, int64_t n, float* out) const = 0;

  // Multi-token prediction: the MTP modules loaded (0 unless loaded with
  // LoadOptions::mtp). mtp_forward runs module `module` over `rows`: row r
  // takes the embedding of tokens[r] (zero at position 0, as vLLM masks it)
  // and previous[r], the hidden state of the position before, whose
  // prediction tokens[r] is: the target's after its final norm
  // (final_norm), or the module's own output when it chains on itself. It
  // writes the module's hidden state to `hidden` and its keys and values to
  // layer `module` of `kv`.
  int64_t num_mtp_modules() const { return num_mtp_modules_; }
  virtual void mtp_forward(int64_t module, const BatchRows& rows, const int32_t* tokens, const float* previous,
                           float* hidden, KVCache& kv) const = 0;
  // The module's head over `n` rows of its hidden states: logits is [n, vocab_size].
  virtual void mtp_logits(int64_t module, const float* hidden, int64_t n, float* logits) const = 0;

  // Loads a Hugging Face folder or a .gguf file (weights memory-mapped).
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& options = {});

 protected:
  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  SamplingParams generation_defaults_{.temperature = 0};
  int64_t num_mtp_modules_ = 0;
};

}  // namespace strata
