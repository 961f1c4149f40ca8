#pragma once
// Added tokens (special or not) are found in the text before normalization
// and pre-tokenization, so "<|im_start|>" written in a prompt becomes one id.
// Matching is leftmost-longest, as in Hugging Face tokenizers.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strata {

// tokenizer.json's single_word flag is not supported (transformers.js
// ignores it too); the tokenizers we load never set it.
struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;     // control token: skipped by decode(skip_special)
  bool lstrip = false;      // swallows whitespace on its left
  bool rstrip = false;      // swallows whitespace on its right
  bool normalized = false;  // matched in the normalized text instead of the raw text
};

// A piece of text split on added tokens: either a token or text between them.
struct TextOrToken {
  std::string_view text;
  const AddedToken* token = nullptr;
};

class AddedTokenMatcher {
 public:
  // Keeps a pointer to `token`, which must outlive the matcher.
  void add(const AddedToken& token);
  bool empty() const { return count_ == 0; }
  // Splits text at every match; applies lstrip/rstrip to the text beside
  // a token. Text pieces are never empty.
  void split(std::string_view text, std::vector<TextOrToken>& out) const;

 private:
  // The longest token that `text` has at `at`, or null.
  const AddedToken* longest_at(std::string_view text, size_t at) const;

  // A trie of the tokens' bytes, so that adding and matching cost the
  // length of the token or match, whatever the number of tokens (a file
  // with thousands of them must not take quadratic time). Node 0 is the
  // root; the edge on byte b from node n is keyed n * 256 + b.
  std::unordered_map<uint64_t, uint32_t> edges_;
  std::vector<const AddedToken*> token_at_{nullptr};  // per node: the token ending there
  size_t count_ = 0;
};

}  // namespace strata
