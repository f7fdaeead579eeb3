// Lexical pieces of the JSON parser, shared by src/core/json*.cc only (not a public API).
//
// The two scanners run once per string and once per non-ASCII character, so they are inline here;
// the rest runs once per number or escape, or only on errors, and lives in json_lex.cc.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace deja::json::internal {

// The first byte at or after p that a string scan must stop at: '"', '\\', a control character or
// a non-ASCII byte. Everything before it can be copied verbatim.
inline const char* SkipPlainStringBytes(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // A signed compare with 0x20 catches control characters and (as negatives) non-ASCII at once.
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmplt_epi8(v, space));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) return p + std::countr_zero(mask);
    p += 16;
  }
#endif
  while (p < end) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
    ++p;
  }
  return p;
}

inline bool IsContinuation(const char* p) {
  return (static_cast<unsigned char>(*p) & 0xC0) == 0x80;
}

// Length of the well-formed UTF-8 sequence at p (whose first byte is >= 0x80), or 0. Well-formed
// per Unicode Table 3-7: no overlongs, no encoded surrogates, nothing above U+10FFFF.
inline int Utf8SequenceLength(const char* p, const char* end) {
  const unsigned char c = static_cast<unsigned char>(*p);
  const ptrdiff_t avail = end - p;
  if (c >= 0xC2 && c <= 0xDF) return avail >= 2 && IsContinuation(p + 1) ? 2 : 0;
  unsigned char lo = 0x80, hi = 0xBF;  // Allowed range of the second byte.
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3) return 0;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    const unsigned char b1 = static_cast<unsigned char>(p[1]);
    return b1 >= lo && b1 <= hi && IsContinuation(p + 2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4) return 0;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    const unsigned char b1 = static_cast<unsigned char>(p[1]);
    return b1 >= lo && b1 <= hi && IsContinuation(p + 2) && IsContinuation(p + 3) ? 4 : 0;
  }
  return 0;
}

// Why the bytes at p are not well-formed UTF-8 (after Utf8SequenceLength returned 0).
std::string DescribeUtf8Error(const char* p, const char* end);

// "line L, column C (byte B)" for byte `offset` of `text`. Columns count characters, as an editor
// shows them; the byte offset is exact for tools.
std::string DescribePosition(std::string_view text, size_t offset);

// The value of four hex digits at p, or -1 if [p, end) does not start with four.
int ReadHex4(const char* p, const char* end);

// Writes code point `cp` (not a surrogate, at most U+10FFFF) as 1 to 4 bytes of UTF-8 at w;
// returns the end.
char* EncodeUtf8(uint32_t cp, char* w);

struct NumberToken {
  enum class Error {
    kNone,
    kUnexpected,  // `problem` says what was expected at `at`.
    kInvalid,     // `problem` says what is wrong at `at`.
    kTooLarge,    // The number at `at` (which ends at `end`) overflows a double.
  };
  Error error = Error::kNone;
  double value = 0;
  const char* end = nullptr;  // One past the number (also set for kTooLarge).
  const char* at = nullptr;
  const char* problem = nullptr;  // Static text.
};

// Lexes the RFC 8259 number starting at p (the caller saw a byte that is not the start of any other
// value). Rounds correctly; values below the smallest subnormal become (signed) zero.
NumberToken LexNumber(const char* p, const char* end);

}  // namespace deja::json::internal
