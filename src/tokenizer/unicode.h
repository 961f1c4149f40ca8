#pragma once
// The Unicode pieces the tokenizer needs: UTF-8 decoding with U+FFFD
// replacement, code point classes for the pre-tokenizer, and NFC.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/unicode_tables.h"

namespace strata::unicode {

using unicode_tables::CharClass;

constexpr char32_t kReplacement = 0xFFFD;

void append_utf8(char32_t cp, std::string& out);

// Appends `in` to `out` as valid UTF-8, replacing each maximal invalid
// subpart with U+FFFD (the WHATWG / Unicode "maximal subpart" rule, which is
// what JavaScript's TextDecoder and Rust's from_utf8_lossy do). When
// `final` is false, a truncated sequence at the end that could still become
// valid is left out. Returns the number of input bytes consumed.
size_t append_valid_utf8(std::string_view in, std::string& out, bool final);
inline std::string to_valid_utf8(std::string_view in) {
  std::string out;
  append_valid_utf8(in, out, true);
  return out;
}

// Decodes valid UTF-8 (as produced by append_valid_utf8) into code points,
// with each one's byte offset; `offsets` gets one extra entry (the size).
void decode_utf8(std::string_view valid, std::vector<char32_t>& cps, std::vector<size_t>& offsets);

CharClass char_class(char32_t cp);
inline bool is_letter(CharClass c) {  // \p{L}
  return c == CharClass::kUpper || c == CharClass::kLower || c == CharClass::kCaseless;
}
// Unicode's White_Space property (what \s means in the Rust and Oniguruma
// regex engines that Hugging Face tokenizers use).
bool is_whitespace(char32_t cp);
// Unicode's Script=Han (what \p{Han} means in the Rust regex engine behind
// tiktoken): ideographs, radicals, and a few marks and numerals like 々 and 〇.
bool is_han(char32_t cp);

// Canonical composition (NFC) of valid UTF-8.
std::string nfc(std::string_view valid);

}  // namespace strata::unicode
