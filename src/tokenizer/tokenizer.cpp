#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace strata {

// Token strings that end a turn in common chat formats (Qwen/ChatML,
// Llama 3, GPT-2 style end of text). When one of them is an added token, it
// stops generation as well as the configured eos token.
static constexpr std::string_view kEndTokens[] = {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>",
                                                  "<|end_of_text|>"};

void Tokenizer::Impl::finish(const std::vector<std::pair<std::string, std::string>>& merge_pairs) {
  // Added tokens win over a base-vocabulary string that looks the same.
  std::vector<bool> is_added(vocab.size(), false);
  for (const AddedToken& t : added) is_added[t.id] = true;
  token_ids.reserve(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) {
    if (!is_added[id]) token_ids.emplace(vocab[id], static_cast<int32_t>(id));
  }
  for (const AddedToken& t : added) token_ids[t.content] = t.id;

  // A token's bytes: its byte-level decoding, or the string itself when it is
  // not byte-level text (plain-text added tokens), as Hugging Face decodes.
  bytes_of_id.resize(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) {
    bytes_of_id[id] = byte_level::decode(vocab[id]).value_or(vocab[id]);
  }

  special_by_id.assign(vocab.size(), false);
  for (const AddedToken& t : added) {
    special_by_id[t.id] = t.special;
    (t.normalized ? normalized_all : raw_all).add(t);
    if (!t.special) (t.normalized ? normalized_plain : raw_plain).add(t);
  }
  bpe = ranked_tokens > 0 ? std::make_unique<BytePairEncoder>(token_ids, bytes_of_id, ranked_tokens, source)
                          : std::make_unique<BytePairEncoder>(token_ids, merge_pairs, ignore_merges, source);
}

void Tokenizer::Impl::add_end_tokens() {
  for (std::string_view end : kEndTokens) {
    for (const AddedToken& t : added) {
      if (t.content == end && std::find(eos.begin(), eos.end(), t.id) == eos.end()) eos.push_back(t.id);
    }
  }
}

int32_t Tokenizer::Impl::checked_id(int64_t id, const std::string& what) const {
  if (id < 0 || id >= static_cast<int64_t>(vocab.size())) {
    fail("{}: {} {} is out of range (vocabulary has {} ids)", source, what, id, vocab.size());
  }
  return static_cast<int32_t>(id);
}

std::vector<int32_t> Tokenizer::Impl::encode(std::string_view text, bool parse_special) const {
  // Invalid UTF-8 becomes U+FFFD first, as a JavaScript or Python string would hold it.
  const std::string valid = unicode::to_valid_utf8(text);
  std::vector<int32_t> ids;
  std::vector<TextOrToken> raw_parts, parts;
  std::vector<std::string_view> pieces;
  (parse_special ? raw_all : raw_plain).split(valid, raw_parts);
  for (const TextOrToken& raw : raw_parts) {
    if (raw.token) {
      ids.push_back(raw.token->id);
      continue;
    }
    const std::string normalized = nfc ? unicode::nfc(raw.text) : std::string(raw.text);
    parts.clear();
    (parse_special ? normalized_all : normalized_plain).split(normalized, parts);
    for (const TextOrToken& part : parts) {
      if (part.token) {
        ids.push_back(part.token->id);
        continue;
      }
      pieces.clear();
      pre_tokenize(pre_tokenizer, part.text, pieces);
      for (std::string_view piece : pieces) bpe->encode(piece, ids);
    }
  }
  return ids;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  return impl_->encode(text, parse_special);
}

std::vector<int32_t> Tokenizer::encode_prompt(std::string_view text) const {
  std::vector<int32_t> ids;
  if (add_bos() && bos_id()) ids.push_back(*bos_id());
  const auto encoded = encode(text);
  ids.insert(ids.end(), encoded.begin(), encoded.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (skip_special && is_special(id)) continue;
    bytes += token_bytes(id);
  }
  return unicode::to_valid_utf8(bytes);
}

std::string Tokenizer::token_bytes(int32_t id) const {
  return impl_->bytes_of_id[impl_->checked_id(id, "token id")];
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  auto it = impl_->token_ids.find(std::string(token));
  if (it == impl_->token_ids.end()) return std::nullopt;
  return it->second;
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->vocab.size()); }

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->special_by_id[id];
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::vector<int32_t> Tokenizer::eos_ids() const { return impl_->eos; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }
void Tokenizer::set_chat_template(std::string source) { impl_->chat_template = std::move(source); }
std::string_view Tokenizer::gguf_pre() const {
  switch (impl_->pre_tokenizer) {
    case PreTokenizer::kQwen2: return "qwen2";
    case PreTokenizer::kGpt4o: return "gpt-4o";
    case PreTokenizer::kKimiK2: return "kimi-k2";
    case PreTokenizer::kDeepSeekV3: return "deepseek-v3";
  }
  return "";
}
const std::vector<std::string>& Tokenizer::vocab_strings() const { return impl_->vocab; }
const std::vector<int32_t>& Tokenizer::vocab_types() const { return impl_->types; }
const std::vector<std::string>& Tokenizer::merges() const { return impl_->merges; }

}  // namespace strata
