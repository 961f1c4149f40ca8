#include "tokenizer/unicode.h"

#include <algorithm>

namespace strata::unicode {

using namespace unicode_tables;

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t append_valid_utf8(std::string_view in, std::string& out, bool final) {
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char lead = s[i];
    if (lead < 0x80) {
      out += static_cast<char>(lead);
      ++i;
      continue;
    }
    // Continuation bytes needed, and the allowed range of the first one
    // (narrower after E0, ED, F0, F4 to exclude overlongs, surrogates and
    // code points above U+10FFFF).
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      need = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      need = 2;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      need = 3;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    } else {
      append_utf8(kReplacement, out);
      ++i;
      continue;
    }
    size_t j = i + 1;
    bool broken = false;
    for (int k = 0; k < need; ++k, ++j) {
      if (j == n) {
        if (!final) return i;  // may still be completed by later bytes
        broken = true;
        break;
      }
      if (s[j] < lo || s[j] > hi) {
        broken = true;
        break;
      }
      lo = 0x80;
      hi = 0xBF;
    }
    if (broken) {
      append_utf8(kReplacement, out);  // one U+FFFD for the maximal subpart [i, j)
    } else {
      out.append(in.data() + i, j - i);
    }
    i = j;
  }
  return n;
}

void decode_utf8(std::string_view valid, std::vector<char32_t>& cps, std::vector<size_t>& offsets) {
  cps.clear();
  offsets.clear();
  const auto* s = reinterpret_cast<const unsigned char*>(valid.data());
  size_t i = 0;
  while (i < valid.size()) {
    offsets.push_back(i);
    const unsigned char b = s[i];
    char32_t cp;
    if (b < 0x80) {
      cp = b;
      i += 1;
    } else if (b < 0xE0) {
      cp = (b & 0x1F) << 6 | (s[i + 1] & 0x3F);
      i += 2;
    } else if (b < 0xF0) {
      cp = (b & 0x0F) << 12 | (s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
      i += 3;
    } else {
      cp = (b & 0x07) << 18 | (s[i + 1] & 0x3F) << 12 | (s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
      i += 4;
    }
    cps.push_back(cp);
  }
  offsets.push_back(valid.size());
}

namespace {

// Index of the range holding cp in a sorted range table, or -1.
template <typename Range>
ptrdiff_t find_range(const Range* table, size_t count, char32_t cp) {
  const Range* end = table + count;
  const Range* it = std::upper_bound(table, end, cp, [](char32_t c, const Range& r) { return c < r.first; });
  if (it == table) return -1;
  --it;
  return cp <= it->last ? it - table : -1;
}

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const ptrdiff_t i = find_range(kCombiningClassRanges, kCombiningClassRangeCount, cp);
  return i < 0 ? 0 : kCombiningClassRanges[i].ccc;
}

bool nfc_unsafe(char32_t cp) {
  return cp >= 0x300 && find_range(kNfcUnsafeRanges, kNfcUnsafeRangeCount, cp) >= 0;
}

// Hangul syllables are (de)composed arithmetically (Unicode ch. 3.12).
constexpr char32_t kHangulBase = 0xAC00, kJamoL = 0x1100, kJamoV = 0x1161, kJamoT = 0x11A7;
constexpr char32_t kCountL = 19, kCountV = 21, kCountT = 28, kCountSyllables = kCountL * kCountV * kCountT;

void decompose(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= kHangulBase && cp < kHangulBase + kCountSyllables) {
    const char32_t s = cp - kHangulBase;
    out.push_back(kJamoL + s / (kCountV * kCountT));
    out.push_back(kJamoV + (s % (kCountV * kCountT)) / kCountT);
    if (s % kCountT != 0) out.push_back(kJamoT + s % kCountT);
    return;
  }
  const Decomposition* end = kDecompositions + kDecompositionCount;
  const Decomposition* it =
      std::lower_bound(kDecompositions, end, cp, [](const Decomposition& d, char32_t c) { return d.cp < c; });
  if (it == end || it->cp != cp) {
    out.push_back(cp);
    return;
  }
  decompose(it->first, out);
  if (it->second != 0) decompose(it->second, out);
}

// The primary composite of a + b, or 0.
char32_t compose(char32_t a, char32_t b) {
  if (a >= kJamoL && a < kJamoL + kCountL && b >= kJamoV && b < kJamoV + kCountV) {
    return kHangulBase + ((a - kJamoL) * kCountV + (b - kJamoV)) * kCountT;
  }
  if (a >= kHangulBase && a < kHangulBase + kCountSyllables && (a - kHangulBase) % kCountT == 0 &&
      b > kJamoT && b < kJamoT + kCountT) {
    return a + (b - kJamoT);
  }
  const Composition* end = kCompositions + kCompositionCount;
  const Composition* it = std::lower_bound(kCompositions, end, std::pair{a, b}, [](const Composition& c, auto key) {
    return c.first != key.first ? c.first < key.first : c.second < key.second;
  });
  return it != end && it->first == a && it->second == b ? it->composite : 0;
}

}  // namespace

CharClass char_class(char32_t cp) {
  if (cp < 0x80) {
    if (cp >= 'A' && cp <= 'Z') return CharClass::kUpper;
    if (cp >= 'a' && cp <= 'z') return CharClass::kLower;
    if (cp >= '0' && cp <= '9') return CharClass::kNumber;
    if (cp < 0x21 || cp == 0x7F) return CharClass::kOther;
    return std::string_view("$+<=>^`|~").find(char(cp)) != std::string_view::npos ? CharClass::kSymbol
                                                                                 : CharClass::kPunctuation;
  }
  const ptrdiff_t i = find_range(kCharClassRanges, kCharClassRangeCount, cp);
  return i < 0 ? CharClass::kOther : kCharClassRanges[i].cls;
}

bool is_whitespace(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_han(char32_t cp) { return cp >= 0x2E80 && find_range(kHanRanges, kHanRangeCount, cp) >= 0; }

std::string nfc(std::string_view valid) {
  if (std::all_of(valid.begin(), valid.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(valid);
  }
  std::vector<char32_t> cps;
  std::vector<size_t> offsets;
  decode_utf8(valid, cps, offsets);
  if (std::none_of(cps.begin(), cps.end(), nfc_unsafe)) return std::string(valid);

  std::vector<char32_t> decomposed;
  decomposed.reserve(cps.size() + 8);
  for (char32_t cp : cps) decompose(cp, decomposed);

  // Canonical ordering: stable sort of each run of non-starters by class.
  std::vector<uint8_t> ccc(decomposed.size());
  for (size_t i = 0; i < decomposed.size(); ++i) ccc[i] = combining_class(decomposed[i]);
  for (size_t i = 1; i < decomposed.size(); ++i) {
    for (size_t j = i; j > 0 && ccc[j] != 0 && ccc[j - 1] > ccc[j]; --j) {
      std::swap(ccc[j], ccc[j - 1]);
      std::swap(decomposed[j], decomposed[j - 1]);
    }
  }

  // Canonical composition: each character joins the last starter unless a
  // character in between blocks it (a starter, or one of equal/higher class).
  std::vector<char32_t> composed;
  composed.reserve(decomposed.size());
  ptrdiff_t starter = -1;
  uint8_t last_ccc = 0;
  for (size_t i = 0; i < decomposed.size(); ++i) {
    const char32_t c = decomposed[i];
    const uint8_t cc = ccc[i];
    if (starter >= 0) {
      const bool adjacent = static_cast<size_t>(starter) + 1 == composed.size();
      if (adjacent || (last_ccc != 0 && last_ccc < cc)) {
        if (const char32_t comp = compose(composed[starter], c)) {
          composed[starter] = comp;
          continue;
        }
      }
    }
    if (cc == 0) starter = static_cast<ptrdiff_t>(composed.size());
    last_ccc = cc;
    composed.push_back(c);
  }

  std::string out;
  out.reserve(valid.size());
  for (char32_t cp : composed) append_utf8(cp, out);
  return out;
}

}  // namespace strata::unicode
