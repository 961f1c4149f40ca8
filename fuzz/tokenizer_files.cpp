// Loading a tokenizer: a tokenizer.json (input starting with '{') or a
// tiktoken vocabulary, its tokenizer_config.json and a text, NUL-joined;
// a loaded tokenizer then encodes and decodes the text. Only strata::Error
// may escape a rejected file.
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "exercise_tokenizer.h"
#include "input_parts.h"
#include "scratch_file.h"

using namespace strata;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = fuzz::split_parts(data, size, 3);
  if (parts.size() != 3) return 0;
  const bool json = !parts[0].empty() && parts[0].front() == '{';
  const std::string vocab = fuzz::write_scratch(json ? "tokenizer.json" : "tiktoken.model", parts[0]);
  const std::string config = parts[1].empty() ? "" : fuzz::write_scratch("tokenizer_config.json", parts[1]);
  std::unique_ptr<Tokenizer> tokenizer;
  try {
    tokenizer = json ? Tokenizer::from_hf(vocab, config) : Tokenizer::from_tiktoken(vocab, config);
  } catch (const Error&) {
    return 0;
  }
  fuzz::exercise_tokenizer(*tokenizer, parts[2]);
  return 0;
}
