#pragma once
// The pre-tokenizers: split text into the pieces BPE works on, exactly as
// the Split regex of each family below would (every match is a piece; these
// regexes match at every position, so nothing falls between matches).
// Hand-written over code points instead of a regex engine.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

enum class PreTokenizer : uint8_t {
  kQwen2,  // Qwen2/Qwen3 (tokenizer.ggml.pre "qwen2")
  kGpt4o,  // GPT-4o / o200k, gpt-oss, MiniMax-M2 ("gpt-4o", "minimax-m2")
  kKimiK2,  // Kimi K2's tiktoken regex ("kimi-k2")
  kDeepSeekV3,  // DeepSeek-V3: three regexes in turn ("deepseek-v3")
};

// The regexes as tokenizer.json writes them.
inline constexpr std::string_view kQwen2SplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kGpt4oSplitRegex =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|)"
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|)"
    R"(\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Kimi K2's (tokenization_kimi.py; tiktoken, no tokenizer.json). `&&[^\p{Han}]`
// is set intersection: the GPT-4o letter classes without Han, which gets
// an alternative of its own ahead of them. Unlike GPT-4o's, no '/' follows
// punctuation.
inline constexpr std::string_view kKimiK2SplitRegex =
    R"([\p{Han}]+|)"
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|)"
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|)"
    R"(\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// DeepSeek-V3's tokenizer.json splits three times, each Split isolating the
// matches of its regex in every piece the previous one left (the text between
// matches stays a piece too): digits in threes, then runs of CJK ideographs
// and kana, then words, punctuation and whitespace. The third regex does not
// match everywhere (a lone control character is a piece of its own).
inline constexpr std::string_view kDeepSeekV3SplitRegexes[] = {
    "\\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
    "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"};

// The pre-tokenizer whose regex is exactly `regex`, if there is one.
std::optional<PreTokenizer> pre_tokenizer_for_regex(std::string_view regex);
// The pre-tokenizer that applies exactly these regexes in turn (one regex:
// pre_tokenizer_for_regex).
std::optional<PreTokenizer> pre_tokenizer_for_regexes(const std::vector<std::string>& regexes);

// `text` must be valid UTF-8; the pieces are views into it, in order, and
// cover it completely. \s is Unicode's White_Space property, as in the Rust
// and Oniguruma engines behind Hugging Face tokenizers and tiktoken, and in
// llama.cpp (so U+0085 is whitespace and U+FEFF is not; JavaScript's \s
// differs on both). Categories come from the Unicode version of
// unicode_tables.cpp, and \p{Han} is the Han script. (?i:'s|...) folds ASCII case only, as llama.cpp and
// transformers.js do; Rust's and Oniguruma's Unicode case folding would also
// take "'\u017F" (long s) as "'s".
void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& pieces);

}  // namespace strata
