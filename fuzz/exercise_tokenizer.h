#pragma once
// What serving does with a tokenizer and untrusted text or ids: encode with
// and without special tokens, decode whole and streamed (with and without
// special tokens), and decode ids taken from the input bytes.
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace strata::fuzz {

inline void exercise_tokenizer(const Tokenizer& tokenizer, std::string_view text) {
  const std::vector<int32_t> ids = tokenizer.encode_prompt(text);
  tokenizer.encode(text, false);
  tokenizer.decode(ids);
  tokenizer.decode(ids, true);
  const int32_t vocab = tokenizer.vocab_size();
  if (vocab <= 0) return;
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 3 < text.size(); i += 3) {
    const uint32_t v = uint8_t(text[i]) | uint32_t(uint8_t(text[i + 1])) << 8 | uint32_t(uint8_t(text[i + 2])) << 16;
    raw.push_back(int32_t(v % uint32_t(vocab)));
  }
  tokenizer.decode(raw);
  StreamDecoder stream(tokenizer, raw.size() % 2 == 0);
  for (int32_t id : raw) stream.push(id);
  stream.flush();
}

}  // namespace strata::fuzz
