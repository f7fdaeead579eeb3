// The parser's out-of-line lexical helpers: numbers, \u escapes, and the text of error messages.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

#include "core/json_internal.h"

namespace deja::json::internal {

std::string DescribeUtf8Error(const char* p, const char* end) {
  const unsigned char c = static_cast<unsigned char>(*p);
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", c);
  if (c < 0xC0) return std::string("invalid UTF-8: unexpected continuation byte ") + hex;
  if (c < 0xC2) return std::string("invalid UTF-8: overlong encoding (lead byte ") + hex + ")";
  if (c >= 0xF8) return std::string("invalid UTF-8: byte ") + hex + " never occurs in UTF-8";
  if (c >= 0xF5) return "invalid UTF-8: code point above U+10FFFF";
  const int length = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (end - p < 2 || !IsContinuation(p + 1)) return "invalid UTF-8: truncated sequence";
  const unsigned char b1 = static_cast<unsigned char>(p[1]);
  if ((c == 0xE0 && b1 < 0xA0) || (c == 0xF0 && b1 < 0x90)) {
    return "invalid UTF-8: overlong encoding";
  }
  if (c == 0xED && b1 >= 0xA0) return "invalid UTF-8: encoded surrogate (U+D800-U+DFFF)";
  if (c == 0xF4 && b1 >= 0x90) return "invalid UTF-8: code point above U+10FFFF";
  for (int i = 2; i < length; ++i) {
    if (end - p <= i || !IsContinuation(p + i)) return "invalid UTF-8: truncated sequence";
  }
  return "invalid UTF-8";  // Unreachable when Utf8SequenceLength returned 0.
}

std::string DescribePosition(std::string_view text, size_t offset) {
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  size_t column = 1;
  for (size_t i = line_start; i < offset; ++i) column += !IsContinuation(&text[i]);
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + " (byte " +
         std::to_string(offset) + ")";
}

int ReadHex4(const char* p, const char* end) {
  if (end - p < 4) return -1;
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    int h;
    if (c >= '0' && c <= '9') {
      h = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      h = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      h = c - 'A' + 10;
    } else {
      return -1;
    }
    v = v * 16 + h;
  }
  return v;
}

char* EncodeUtf8(uint32_t cp, char* w) {
  if (cp < 0x80) {
    *w++ = static_cast<char>(cp);
  } else if (cp < 0x800) {
    *w++ = static_cast<char>(0xC0 | (cp >> 6));
    *w++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *w++ = static_cast<char>(0xE0 | (cp >> 12));
    *w++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *w++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *w++ = static_cast<char>(0xF0 | (cp >> 18));
    *w++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *w++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *w++ = static_cast<char>(0x80 | (cp & 0x3F));
  }
  return w;
}

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// from_chars reports overflow and underflow alike; the decimal exponent of the first significant
// digit tells them apart (it is above 300 for any overflow and below -300 for any underflow).
// [digits, end) is a grammatical number without its sign.
bool Overflows(const char* digits, const char* end) {
  long long int_digits = 0, leading_zeros = 0;
  bool seen_nonzero = false, in_fraction = false;
  const char* p = digits;
  for (; p < end && *p != 'e' && *p != 'E'; ++p) {
    if (*p == '.') {
      in_fraction = true;
    } else if (!in_fraction) {
      if (*p != '0' || seen_nonzero) ++int_digits;
      seen_nonzero |= *p != '0';
    } else if (!seen_nonzero) {
      if (*p == '0') ++leading_zeros;
      seen_nonzero |= *p != '0';
    }
  }
  long long exponent = 0;
  if (p < end) {
    ++p;
    const bool negative = *p == '-';
    if (*p == '-' || *p == '+') ++p;
    for (; p < end; ++p) exponent = std::min(exponent * 10 + (*p - '0'), 1'000'000'000LL);
    if (negative) exponent = -exponent;
  }
  const long long scientific =
      int_digits > 0 ? int_digits - 1 + exponent : exponent - leading_zeros - 1;
  return scientific > 0;
}

NumberToken Failure(NumberToken::Error error, const char* at, const char* problem) {
  NumberToken t;
  t.error = error;
  t.at = at;
  t.problem = problem;
  return t;
}

}  // namespace

NumberToken LexNumber(const char* start, const char* end) {
  using Error = NumberToken::Error;
  const char* p = start;
  const bool negative = p < end && *p == '-';
  if (negative) ++p;
  if (p == end || !IsDigit(*p)) {
    const std::string_view rest(p, static_cast<size_t>(end - p));
    if (rest.starts_with("Infinity") || rest.starts_with("NaN")) {
      return Failure(Error::kInvalid, start, "NaN and Infinity are not valid JSON numbers");
    }
    if (negative) return Failure(Error::kUnexpected, p, "a digit after '-'");
    if (*p == '+') return Failure(Error::kInvalid, p, "a leading '+' is not allowed in a number");
    return Failure(Error::kUnexpected, p, "a value");
  }
  const char* digits = p;
  if (*p == '0') {
    ++p;
    if (p < end && IsDigit(*p)) {
      return Failure(Error::kInvalid, digits, "leading zeros are not allowed in a number");
    }
  } else {
    while (p < end && IsDigit(*p)) ++p;
  }
  bool integer = true;
  if (p < end && *p == '.') {
    ++p;
    if (p == end || !IsDigit(*p)) {
      return Failure(Error::kUnexpected, p, "a digit after the decimal point");
    }
    while (p < end && IsDigit(*p)) ++p;
    integer = false;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p == end || !IsDigit(*p)) return Failure(Error::kUnexpected, p, "a digit in the exponent");
    while (p < end && IsDigit(*p)) ++p;
    integer = false;
  }
  NumberToken t;
  t.end = p;
  if (integer && p - digits <= 15) {
    // Below 10^15 every integer is exact in a double, so plain accumulation rounds correctly.
    uint64_t u = 0;
    for (const char* q = digits; q < p; ++q) u = u * 10 + static_cast<uint64_t>(*q - '0');
    t.value = negative ? -static_cast<double>(u) : static_cast<double>(u);
    return t;
  }
  const std::from_chars_result r = std::from_chars(start, p, t.value);
  if (r.ec == std::errc::result_out_of_range) {
    if (Overflows(digits, p)) {
      t.error = Error::kTooLarge;
      t.at = start;
      return t;
    }
    t.value = negative ? -0.0 : 0.0;  // Underflow: I-JSON allows rounding to zero.
  } else if (r.ec != std::errc() || r.ptr != p) {
    return Failure(Error::kInvalid, start, "malformed number");  // Unreachable after the checks.
  }
  return t;
}

}  // namespace deja::json::internal
