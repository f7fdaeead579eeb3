// Character classes and small helpers shared by the text scanners (text_spans.cc,
// text_matchers.cc, word_lists.cc). Internal to src/semantic.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "semantic/text.h"

namespace deja::semantic::text_internal {

inline bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool IsAlpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
inline bool IsAsciiAlnum(unsigned char c) { return IsDigit(c) || IsAlpha(c); }
inline bool IsHex(unsigned char c) {
  return IsDigit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}
inline bool IsAsciiSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Letters outside ASCII: Latin-1 and later letters, excluding the symbol and punctuation blocks.
inline bool IsLetterCp(char32_t cp) {
  if (cp < 0x80) return IsAlpha(static_cast<unsigned char>(cp));
  if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7 || cp == 0xFFFD) return false;
  if (cp >= 0x2000 && cp <= 0x2BFF) return false;  // punctuation, currency, arrows, math
  if (cp >= 0x3000 && cp <= 0x303F) return false;  // CJK punctuation
  if (cp >= 0xFE30 && cp <= 0xFE4F) return false;
  if (cp >= 0xFF00 && cp <= 0xFF0F) return false;
  return !IsWhitespace(cp) && !IsPunctuation(cp) && !IsControl(cp);
}

// Code point at `i` (0 past the end) and its length.
inline char32_t CpAt(std::string_view t, size_t i, size_t* len) {
  if (i >= t.size()) {
    *len = 0;
    return 0;
  }
  if (static_cast<unsigned char>(t[i]) < 0x80) {
    *len = 1;
    return static_cast<unsigned char>(t[i]);
  }
  size_t j = i;
  char32_t cp = DecodeUtf8(t, &j);
  *len = j - i;
  return cp;
}

// Code point ending just before `i` (0 at the start).
inline char32_t CpBefore(std::string_view t, size_t i) {
  if (i == 0) return 0;
  if (static_cast<unsigned char>(t[i - 1]) < 0x80) return static_cast<unsigned char>(t[i - 1]);
  size_t start = i - 1;
  while (start > 0 && i - start < 4 && (static_cast<unsigned char>(t[start]) & 0xC0) == 0x80) {
    --start;
  }
  size_t j = start;
  return DecodeUtf8(t, &j);
}

inline bool IsWordCp(char32_t cp) { return cp < 0x80 ? IsAsciiAlnum(cp) : IsLetterCp(cp); }

inline bool IsSpaceCp(char32_t cp) { return cp < 0x80 ? IsAsciiSpace(cp) : IsWhitespace(cp); }

// Quote pairs: opening code point -> closing code point (0 when `open` opens no quote).
inline char32_t ClosingQuote(char32_t open) {
  switch (open) {
    case '"':
    case '\'':
    case '`':
      return open;
    case 0x201C:  // “
      return 0x201D;
    case 0x2018:  // ‘
      return 0x2019;
    case 0x201E:  // „
      return 0x201C;
    case 0xAB:  // «
      return 0xBB;
    default:
      return 0;
  }
}

inline bool IsQuoteCp(char32_t cp) {
  return cp == '"' || cp == '\'' || cp == '`' || (cp >= 0x2018 && cp <= 0x201F) || cp == 0xAB ||
         cp == 0xBB;
}

// Equality with a cheap first-byte test before the memcmp (the word lists are scanned per word).
inline bool SameWord(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || a[0] == b[0]) && a == b;
}

inline std::string TwoDigits(int v) {
  std::string s = std::to_string(v);
  return s.size() < 2 ? "0" + s : s;
}

inline int ParseInt(std::string_view digits) {
  int v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

}  // namespace deja::semantic::text_internal
