#pragma once
// Speculative decoding settings, given as vLLM's --speculative-config JSON,
// e.g. {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4}
// (prompt lookup) or {"method": "draft", "model": PATH, "num_speculative_tokens": 4}
// (a smaller model; vLLM's name "draft_model" is taken too) or
// {"method": "mtp", "num_speculative_tokens": 1} (the model's own MTP
// modules; vLLM's deprecated alias "deepseek_mtp", which it maps to "mtp",
// is taken too).
#include <cstdint>
#include <string>
#include <string_view>

namespace strata {

struct SpeculativeConfig {
  std::string method;                  // empty: speculative decoding off; "ngram", "draft" or "mtp"
  std::string model;                   // draft: the draft model's folder or .gguf
  int32_t num_speculative_tokens = 0;  // most tokens proposed per sequence and step
  // ngram: lengths of the suffix looked up in the sequence's earlier tokens.
  int32_t prompt_lookup_min = 0, prompt_lookup_max = 0;

  bool enabled() const { return !method.empty(); }
  // The target must then be loaded with its MTP modules (LoadOptions::mtp).
  bool needs_mtp_modules() const { return method == "mtp"; }
  // Throws Error naming the bad key or value. Like vLLM, an ngram config
  // with neither lookup length takes 5 for both, and with one takes it for both.
  static SpeculativeConfig parse(std::string_view json);
};

}  // namespace strata
