#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace strata {

namespace {

std::string_view trim_whitespace(std::string_view text, bool left, bool right) {
  std::vector<char32_t> cps;
  std::vector<size_t> offsets;
  unicode::decode_utf8(text, cps, offsets);
  size_t begin = 0, end = cps.size();
  while (left && begin < end && unicode::is_whitespace(cps[begin])) ++begin;
  while (right && end > begin && unicode::is_whitespace(cps[end - 1])) --end;
  return text.substr(offsets[begin], offsets[end] - offsets[begin]);
}

}  // namespace

void AddedTokenMatcher::add(const AddedToken& token) {
  if (token.content.empty()) return;
  uint32_t node = 0;
  for (unsigned char byte : token.content) {
    auto [edge, added] = edges_.try_emplace(uint64_t(node) * 256 + byte, uint32_t(token_at_.size()));
    if (added) token_at_.push_back(nullptr);
    node = edge->second;
  }
  // Of tokens with the same content, the first added is matched.
  if (!token_at_[node]) token_at_[node] = &token;
  ++count_;
}

const AddedToken* AddedTokenMatcher::longest_at(std::string_view text, size_t at) const {
  const AddedToken* longest = nullptr;
  uint32_t node = 0;
  for (size_t i = at; i < text.size(); ++i) {
    auto edge = edges_.find(uint64_t(node) * 256 + static_cast<unsigned char>(text[i]));
    if (edge == edges_.end()) break;
    node = edge->second;
    if (token_at_[node]) longest = token_at_[node];
  }
  return longest;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextOrToken>& out) const {
  const size_t first_piece = out.size();
  size_t text_begin = 0;
  for (size_t i = 0; i < text.size();) {
    const AddedToken* match = longest_at(text, i);
    if (!match) {
      ++i;
      continue;
    }
    if (i > text_begin) out.push_back({text.substr(text_begin, i - text_begin), nullptr});
    out.push_back({std::string_view(match->content), match});
    i += match->content.size();
    text_begin = i;
  }
  if (text_begin < text.size()) out.push_back({text.substr(text_begin), nullptr});

  // Strip whitespace next to tokens that ask for it, then drop emptied text.
  for (size_t k = first_piece; k < out.size(); ++k) {
    if (out[k].token) continue;
    const bool after_rstrip = k > first_piece && out[k - 1].token && out[k - 1].token->rstrip;
    const bool before_lstrip = k + 1 < out.size() && out[k + 1].token && out[k + 1].token->lstrip;
    if (after_rstrip || before_lstrip) out[k].text = trim_whitespace(out[k].text, after_rstrip, before_lstrip);
  }
  out.erase(std::remove_if(out.begin() + static_cast<ptrdiff_t>(first_piece), out.end(),
                           [](const TextOrToken& p) { return !p.token && p.text.empty(); }),
            out.end());
}

}  // namespace strata
