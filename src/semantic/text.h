// Small Unicode helpers shared by the embedders and the tokenizer: UTF-8 decoding and encoding,
// simple lower-casing, accent stripping and character classes.
//
// These are deliberately table-light approximations of the Unicode database, exact for ASCII,
// Latin-1, Latin Extended-A, basic Greek and Cyrillic (what English text and its loanwords use).
// Outside those ranges characters pass through unchanged, which for a semantic cache only costs
// recall on the rare non-English prompt, never correctness of a cached answer.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace deja::semantic {

// Decodes the code point at s[*i] and advances *i past it. Invalid or truncated sequences decode
// to U+FFFD and advance one byte, so every input makes progress.
char32_t DecodeUtf8(std::string_view s, size_t* i);

// Appends the UTF-8 encoding of `cp` (REQUIRES: a Unicode scalar value).
void AppendUtf8(char32_t cp, std::string* out);

// Number of code points in `s` (invalid bytes count one each, as DecodeUtf8 sees them).
size_t CountCodePoints(std::string_view s);

// Byte offset of the start of code point number `n` (or s.size() if s has fewer).
size_t OffsetOfCodePoint(std::string_view s, size_t n);

// Simple (1:1) lower-case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic.
char32_t ToLowerSimple(char32_t cp);

// The letter a precomposed Latin letter decomposes to under NFD, with its combining marks dropped
// (e.g. U+00E9 'é' -> 'e'); `cp` itself when it has no such decomposition.
char32_t StripAccent(char32_t cp);

// Combining diacritical marks (U+0300..U+036F and the supplement blocks): dropped by accent
// stripping.
bool IsCombiningMark(char32_t cp);

// Unicode White_Space (as Rust's char::is_whitespace and regex \s): ASCII \t\n\v\f\r and space,
// U+0085, category Zs, U+2028 and U+2029.
bool IsWhitespace(char32_t cp);

// Control and format characters (categories Cc, Cf, Co) other than \t, \n, \r.
bool IsControl(char32_t cp);

// ASCII punctuation and symbols, plus Unicode punctuation (category P*) in the common blocks.
bool IsPunctuation(char32_t cp);

// CJK ideographs, which BERT's normalizer isolates with spaces.
bool IsCjk(char32_t cp);

// 64-bit FNV-1a of `s` mixed with `seed`, finished with a strong avalanche (splitmix64), so both
// the low and the high bits are usable.
uint64_t HashBytes(std::string_view s, uint64_t seed);

}  // namespace deja::semantic
