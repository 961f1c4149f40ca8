#pragma once
// The tokenizer's state, shared by the loaders (tokenizer_hf.cpp,
// tokenizer_gguf.cpp) and the encoder/decoder (tokenizer.cpp).
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace strata {

// GGUF token types (llama.cpp's llama_token_type).
enum GGUFTokenType : int32_t { kTokenNormal = 1, kTokenControl = 3, kTokenUserDefined = 4, kTokenUnused = 5 };

struct Tokenizer::Impl {
  // Filled by a loader.
  std::string source;               // file name for error messages
  std::vector<std::string> vocab;   // token string by id (byte-level encoded; added tokens as plain text)
  std::vector<int32_t> types;       // GGUF token type by id
  std::vector<std::string> merges;  // "left right", by rank
  // tiktoken vocabularies (Kimi): ids [0, ranked_tokens) are ranked tokens
  // that merge by tiktoken's rule, without a merge list; 0 for merge lists.
  int32_t ranked_tokens = 0;
  std::vector<AddedToken> added;
  bool nfc = true;
  PreTokenizer pre_tokenizer = PreTokenizer::kQwen2;
  bool ignore_merges = false;
  std::optional<int32_t> bos;
  std::vector<int32_t> eos;
  bool add_bos = false;
  std::string chat_template;

  // Derived by finish().
  BytePairEncoder::Vocab token_ids;
  std::vector<std::string> bytes_of_id;
  std::vector<bool> special_by_id;
  AddedTokenMatcher raw_all, raw_plain, normalized_all, normalized_plain;  // "plain": non-special only
  std::unique_ptr<BytePairEncoder> bpe;

  // Builds the lookup tables once the loader is done; `merge_pairs` are the
  // merges split into their two sides (unused with ranked_tokens).
  void finish(const std::vector<std::pair<std::string, std::string>>& merge_pairs);
  // Adds end-of-turn tokens found among the added tokens to `eos` (after the
  // loader's own eos token): see Tokenizer::eos_ids().
  void add_end_tokens();
  std::vector<int32_t> encode(std::string_view text, bool parse_special) const;
  int32_t checked_id(int64_t id, const std::string& what) const;
};

}  // namespace strata
