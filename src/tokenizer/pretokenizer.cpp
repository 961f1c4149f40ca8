#include "tokenizer/pretokenizer.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace strata {

namespace {

using unicode::CharClass;

// The text as code points with what the regexes ask about each one. Every
// predicate is false past the end, so matchers can look ahead freely.
class CodePoints {
 public:
  // With han_apart, Han code points are taken out of the word classes
  // (upper_like, lower_like), as Kimi K2's regex does.
  CodePoints(std::string_view text, bool han_apart) {
    unicode::decode_utf8(text, cp_, offsets_);
    cls_.resize(cp_.size());
    space_.resize(cp_.size());
    han_.resize(cp_.size());
    for (size_t i = 0; i < cp_.size(); ++i) {
      cls_[i] = unicode::char_class(cp_[i]);
      space_[i] = unicode::is_whitespace(cp_[i]);
      han_[i] = han_apart && unicode::is_han(cp_[i]);
    }
  }

  size_t size() const { return cp_.size(); }
  size_t offset(size_t i) const { return offsets_[i]; }
  bool is(size_t i, char32_t c) const { return i < size() && cp_[i] == c; }
  bool is_ascii_ci(size_t i, char lower) const { return is(i, lower) || is(i, lower - 'a' + 'A'); }
  bool letter(size_t i) const { return i < size() && unicode::is_letter(cls_[i]); }
  bool number(size_t i) const { return i < size() && cls_[i] == CharClass::kNumber; }
  bool space(size_t i) const { return i < size() && space_[i]; }
  bool newline(size_t i) const { return is(i, '\r') || is(i, '\n'); }
  bool han(size_t i) const { return i < size() && han_[i]; }
  bool letter_or_mark(size_t i) const { return letter(i) || (i < size() && cls_[i] == CharClass::kMark); }
  // \p{P} or \p{S}
  bool punctuation_or_symbol(size_t i) const {
    return i < size() && (cls_[i] == CharClass::kPunctuation || cls_[i] == CharClass::kSymbol);
  }
  bool ascii_letter(size_t i) const { return i < size() && cp_[i] < 0x80 && letter(i); }
  // [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]: every printable ASCII character but letters and digits
  bool ascii_punctuation(size_t i) const { return i < size() && cp_[i] < 0x7F && punctuation_or_symbol(i); }
  bool in_ranges(size_t i, std::initializer_list<std::pair<char32_t, char32_t>> ranges) const {
    if (i >= size()) return false;
    for (const auto& [first, last] : ranges)
      if (cp_[i] >= first && cp_[i] <= last) return true;
    return false;
  }
  // [^\s\p{L}\p{N}]
  bool other(size_t i) const { return i < size() && !space_[i] && !letter(i) && !number(i); }
  // [^\r\n\p{L}\p{N}]: the optional character before a word
  bool word_prefix(size_t i) const { return i < size() && !newline(i) && !letter(i) && !number(i); }
  // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] (less Han when han_apart)
  bool upper_like(size_t i) const {
    return i < size() && !han_[i] &&
           (cls_[i] == CharClass::kUpper || cls_[i] == CharClass::kCaseless || cls_[i] == CharClass::kMark);
  }
  // [\p{Ll}\p{Lm}\p{Lo}\p{M}] (less Han when han_apart)
  bool lower_like(size_t i) const {
    return i < size() && !han_[i] &&
           (cls_[i] == CharClass::kLower || cls_[i] == CharClass::kCaseless || cls_[i] == CharClass::kMark);
  }

  // The end of the run of code points from k that satisfy `pred`.
  template <typename Pred>
  size_t run(size_t k, Pred pred) const {
    while (pred(k)) ++k;
    return k;
  }

 private:
  std::vector<char32_t> cp_;
  std::vector<size_t> offsets_;
  std::vector<CharClass> cls_;
  std::vector<bool> space_;
  std::vector<bool> han_;
};

constexpr size_t kNoMatch = static_cast<size_t>(-1);

// Length of (?i:'s|'t|'re|'ve|'m|'ll|'d) at k, 0 when it does not match.
size_t contraction(const CodePoints& t, size_t k) {
  if (!t.is(k, '\'')) return 0;
  if (t.is_ascii_ci(k + 1, 's') || t.is_ascii_ci(k + 1, 't') || t.is_ascii_ci(k + 1, 'm') || t.is_ascii_ci(k + 1, 'd')) {
    return 2;
  }
  if ((t.is_ascii_ci(k + 1, 'r') && t.is_ascii_ci(k + 2, 'e')) || (t.is_ascii_ci(k + 1, 'v') && t.is_ascii_ci(k + 2, 'e')) ||
      (t.is_ascii_ci(k + 1, 'l') && t.is_ascii_ci(k + 2, 'l'))) {
    return 3;
  }
  return 0;
}

// The alternatives both regexes end with, for text starting with whitespace
// at i: \s*[\r\n]+|\s+(?!\S)|\s+. Returns the match's end.
size_t match_spaces(const CodePoints& t, size_t i) {
  const size_t space_end = t.run(i, [&](size_t k) { return t.space(k); });
  // \s*[\r\n]+ : backtracking makes \s* stop just before the run's last newline.
  for (size_t k = space_end; k > i; --k) {
    if (t.newline(k - 1)) return k;
  }
  // \s+(?!\S) : the whole run at the end of text, else all but its last
  // character (which is then followed by whitespace).
  if (space_end == t.size()) return space_end;
  if (space_end - i >= 2) return space_end - 1;
  // \s+
  return space_end;
}

// ` ?[^\s\p{L}\p{N}]+` followed by a run of `tail` characters, at i; kNoMatch
// when it does not match.
template <typename Tail>
size_t match_punctuation(const CodePoints& t, size_t i, Tail tail) {
  const size_t from = t.is(i, ' ') && t.other(i + 1) ? i + 1 : i;
  if (!t.other(from)) return kNoMatch;
  return t.run(t.run(from, [&](size_t k) { return t.other(k); }), tail);
}

// The end of the match of kQwen2SplitRegex at i; each step below is one
// alternative, tried in order.
size_t match_qwen2(const CodePoints& t, size_t i) {
  auto letter = [&](size_t k) { return t.letter(k); };
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (const size_t n = contraction(t, i)) return i + n;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (t.letter(i)) return t.run(i, letter);
  if (t.word_prefix(i) && t.letter(i + 1)) return t.run(i + 1, letter);
  // \p{N}
  if (t.number(i)) return i + 1;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t end = match_punctuation(t, i, [&](size_t k) { return t.newline(k); });
  if (end != kNoMatch) return end;
  // What is left starts with whitespace.
  return match_spaces(t, i);
}

// [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+ at s: its end, or kNoMatch.
size_t match_upper_star_lower_plus(const CodePoints& t, size_t s) {
  auto lower_like = [&](size_t k) { return t.lower_like(k); };
  const size_t upper_end = t.run(s, [&](size_t k) { return t.upper_like(k); });
  if (t.lower_like(upper_end)) return t.run(upper_end, lower_like);
  // The first (greedy) choice failed: the engine gives back upper-like code
  // points one at a time until the next one is also lower-like (Lm, Lo, M);
  // the lower-like run is then that one code point, since what follows it
  // within the run is Lu/Lt only.
  for (size_t k = upper_end; k > s; --k) {
    if (t.lower_like(k - 1)) return k;
  }
  return kNoMatch;
}

// [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]* at s: its end, or kNoMatch.
size_t match_upper_plus_lower_star(const CodePoints& t, size_t s) {
  if (!t.upper_like(s)) return kNoMatch;
  const size_t upper_end = t.run(s, [&](size_t k) { return t.upper_like(k); });
  return t.run(upper_end, [&](size_t k) { return t.lower_like(k); });
}

// \p{N}{1,3} at i: its end, or kNoMatch.
size_t match_digits(const CodePoints& t, size_t i) {
  if (!t.number(i)) return kNoMatch;
  return std::min(t.run(i, [&](size_t k) { return t.number(k); }), i + 3);
}

// The end of the match of kGpt4oSplitRegex at i or, with kimi (and the code
// points built with han_apart), of kKimiK2SplitRegex; each step below is one
// alternative, tried in order.
size_t match_gpt4o(const CodePoints& t, size_t i, bool kimi) {
  // [\p{Han}]+ (Kimi only)
  if (t.han(i)) return t.run(i, [&](size_t k) { return t.han(k); });
  // [^\r\n\p{L}\p{N}]?WORD(?i:'s|'t|'re|'ve|'m|'ll|'d)? for the two WORD
  // shapes; the optional prefix is tried with, then without (a mark can be
  // either the prefix or part of the word).
  for (auto word : {match_upper_star_lower_plus, match_upper_plus_lower_star}) {
    for (size_t s : {i + 1, i}) {
      if (s == i + 1 && !t.word_prefix(i)) continue;
      const size_t end = word(t, s);
      if (end != kNoMatch) return end + contraction(t, end);
    }
  }
  // \p{N}{1,3}
  if (const size_t end = match_digits(t, i); end != kNoMatch) return end;
  // ' ?[^\s\p{L}\p{N}]+[\r\n/]*' (Kimi: [\r\n]*)
  const size_t end = match_punctuation(t, i, [&](size_t k) { return t.newline(k) || (!kimi && t.is(k, '/')); });
  if (end != kNoMatch) return end;
  // What is left starts with whitespace.
  return match_spaces(t, i);
}

// The matchers of DeepSeek-V3's second and third regexes at i (the first is
// match_digits): the end of the match, or kNoMatch.
size_t match_deepseek_cjk(const CodePoints& t, size_t i) {  // [一-龥぀-ゟ゠-ヿ]+
  auto cjk = [&](size_t k) { return t.in_ranges(k, {{0x4E00, 0x9FA5}, {0x3040, 0x309F}, {0x30A0, 0x30FF}}); };
  return cjk(i) ? t.run(i, cjk) : kNoMatch;
}

size_t match_deepseek_words(const CodePoints& t, size_t i) {
  auto letter_or_mark = [&](size_t k) { return t.letter_or_mark(k); };
  // [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+
  if (t.ascii_punctuation(i) && t.ascii_letter(i + 1)) return t.run(i + 1, [&](size_t k) { return t.ascii_letter(k); });
  // [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
  if (i < t.size() && !t.newline(i) && !t.letter(i) && !t.punctuation_or_symbol(i) && t.letter_or_mark(i + 1)) {
    return t.run(i + 1, letter_or_mark);
  }
  if (t.letter_or_mark(i)) return t.run(i, letter_or_mark);
  // ' ?[\p{P}\p{S}]+[\r\n]*'
  const size_t from = t.is(i, ' ') && t.punctuation_or_symbol(i + 1) ? i + 1 : i;
  if (t.punctuation_or_symbol(from)) {
    return t.run(t.run(from, [&](size_t k) { return t.punctuation_or_symbol(k); }), [&](size_t k) { return t.newline(k); });
  }
  // \s*[\r\n]+|\s+(?!\S)|\s+
  return t.space(i) ? match_spaces(t, i) : kNoMatch;
}

// A Split with behavior Isolated: every match in `text` is a piece, and so
// is each stretch of text between matches.
void isolate(std::string_view text, size_t (*match)(const CodePoints&, size_t), std::vector<std::string_view>& pieces) {
  const CodePoints t(text, false);
  auto piece = [&](size_t from, size_t to) { pieces.push_back(text.substr(t.offset(from), t.offset(to) - t.offset(from))); };
  size_t gap = 0;
  for (size_t i = 0; i < t.size();) {
    const size_t end = match(t, i);
    if (end == kNoMatch) {
      ++i;
      continue;
    }
    if (gap < i) piece(gap, i);
    piece(i, end);
    i = gap = end;
  }
  if (gap < t.size()) piece(gap, t.size());
}

}  // namespace

std::optional<PreTokenizer> pre_tokenizer_for_regexes(const std::vector<std::string>& regexes) {
  if (regexes.size() == 1) return pre_tokenizer_for_regex(regexes[0]);
  if (std::equal(regexes.begin(), regexes.end(), std::begin(kDeepSeekV3SplitRegexes), std::end(kDeepSeekV3SplitRegexes))) {
    return PreTokenizer::kDeepSeekV3;
  }
  return std::nullopt;
}

std::optional<PreTokenizer> pre_tokenizer_for_regex(std::string_view regex) {
  if (regex == kQwen2SplitRegex) return PreTokenizer::kQwen2;
  if (regex == kGpt4oSplitRegex) return PreTokenizer::kGpt4o;
  if (regex == kKimiK2SplitRegex) return PreTokenizer::kKimiK2;
  return std::nullopt;
}

void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& pieces) {
  if (kind == PreTokenizer::kDeepSeekV3) {
    std::vector<std::string_view> digits, cjk;
    isolate(text, match_digits, digits);
    for (std::string_view piece : digits) isolate(piece, match_deepseek_cjk, cjk);
    for (std::string_view piece : cjk) isolate(piece, match_deepseek_words, pieces);
    return;
  }
  const bool kimi = kind == PreTokenizer::kKimiK2;
  const CodePoints t(text, kimi);
  for (size_t i = 0; i < t.size();) {
    const size_t end = kind == PreTokenizer::kQwen2 ? match_qwen2(t, i) : match_gpt4o(t, i, kimi);
    pieces.push_back(text.substr(t.offset(i), t.offset(end) - t.offset(i)));
    i = end;
  }
}

}  // namespace strata
