#include "tokenizer/pretokenizer.h"

#include <cstdint>

#include "tokenizer/unicode.h"

namespace strata {

namespace {

enum class Kind : uint8_t { kLetter, kNumber, kSpace, kOther };  // L, N, \s, anything else

Kind kind_of(char32_t cp) {
  const unicode::CharClass cls = unicode::char_class(cp);
  if (unicode::is_letter(cls)) return Kind::kLetter;
  if (cls == unicode::CharClass::kNumber) return Kind::kNumber;
  return unicode::is_whitespace(cp) ? Kind::kSpace : Kind::kOther;
}

bool is_newline(char32_t cp) { return cp == '\r' || cp == '\n'; }

char32_t lower_ascii(char32_t cp) { return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp; }

// Length (in code points) of the match of the regex at position i; each
// branch below is one alternative of kQwen2SplitRegex, tried in order.
size_t match_at(const std::vector<char32_t>& cp, const std::vector<Kind>& kind, size_t i) {
  const size_t n = cp.size();
  auto at = [&](size_t k) -> char32_t { return k < n ? lower_ascii(cp[k]) : 0; };
  auto run = [&](size_t k, auto pred) {
    while (k < n && pred(k)) ++k;
    return k;
  };
  auto is_letter = [&](size_t k) { return kind[k] == Kind::kLetter; };
  auto is_other = [&](size_t k) { return kind[k] == Kind::kOther; };
  auto is_space = [&](size_t k) { return kind[k] == Kind::kSpace; };
  auto is_nl = [&](size_t k) { return is_newline(cp[k]); };

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (cp[i] == '\'') {
    const char32_t a = at(i + 1), b = at(i + 2);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (is_letter(i)) return run(i, is_letter) - i;
  if (kind[i] != Kind::kNumber && !is_newline(cp[i]) && i + 1 < n && is_letter(i + 1)) {
    return run(i + 1, is_letter) - i;
  }
  // \p{N}
  if (kind[i] == Kind::kNumber) return 1;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t others_from = cp[i] == ' ' && i + 1 < n && is_other(i + 1) ? i + 1 : i;
  if (is_other(others_from)) return run(run(others_from, is_other), is_nl) - i;
  // What is left starts with whitespace.
  const size_t space_end = run(i, is_space);
  // \s*[\r\n]+ : backtracking makes \s* stop just before the run's last newline.
  for (size_t k = space_end; k > i; --k) {
    if (is_newline(cp[k - 1])) return k - i;
  }
  // \s+(?!\S) : the whole run at the end of text, else all but its last
  // character (which is then followed by whitespace).
  if (space_end == n) return space_end - i;
  if (space_end - i >= 2) return space_end - 1 - i;
  // \s+
  return space_end - i;
}

}  // namespace

void split_qwen2(std::string_view text, std::vector<std::string_view>& pieces) {
  std::vector<char32_t> cps;
  std::vector<size_t> offsets;
  unicode::decode_utf8(text, cps, offsets);
  std::vector<Kind> kind(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) kind[i] = kind_of(cps[i]);
  for (size_t i = 0; i < cps.size();) {
    const size_t len = match_at(cps, kind, i);
    pieces.push_back(text.substr(offsets[i], offsets[i + len] - offsets[i]));
    i += len;
  }
}

}  // namespace strata
