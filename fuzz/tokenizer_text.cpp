// Encode and decode on the real vocabularies: the first byte picks the
// tokenizer, the rest is the text (also read as token ids). Untrusted text
// is always valid input: nothing may throw.
#include <cstdint>
#include <string_view>

#include "exercise_tokenizer.h"
#include "reference_tokenizers.h"

// Loads the vocabularies before libFuzzer starts timing inputs: under ASan
// that takes 10-30 s, which -timeout would otherwise count against the first.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  strata::fuzz::reference_tokenizers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& tokenizers = strata::fuzz::reference_tokenizers();
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  strata::fuzz::exercise_tokenizer(*tokenizers[data[0] % tokenizers.size()], text);
  return 0;
}
