// Splits a question or an answer into typed spans: words, numbers, dates and times, quoted strings,
// e-mail addresses, URLs, UUIDs, letter-digit identifiers and single symbols.
//
// This is the shared lexer behind the semantic cache's match guards (guards.h) and answer
// templates (answer_template.h): both need to find the same numbers, dates and quoted strings in
// the same way, so that what one treats as a value the other does too.
//
//   std::vector<Span> spans = ScanSpans("Order #12345 ships on March 3, 2024.");
//   // word "Order", symbol "#", number "12345", word "ships", word "on",
//   // date "2024-03-03" (covering "March 3, 2024"), symbol "."
//
// Hand-written single pass plus a small combining pass (month names with days and years); no
// regular expressions, no allocation beyond the output vector and short value strings
// (ExtractGuardFeatures, which includes a scan, takes ~3 us for a 20-word question;
// bench/match_bench.cc).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deja::semantic {

enum class SpanKind : uint8_t {
  kWord,     // letters with internal apostrophes or hyphens: "don't", "Python's", "well-known"
  kNumber,   // "5", "-3.5", "1,000", "3rd"; value normalized (see Span::value)
  kDate,     // a calendar date or a clock time: "2024-03-04", "March 3", "03/04/2024", "2:30 pm"
  kDayWord,  // a weekday or relative day: "Monday", "today", "tomorrow", "yesterday", "tonight"
  kQuoted,   // text between matching quotes: '...', "...", “...”, ‘...’, `...`, «...»
  kEmail,    // "john.doe@example.com"
  kUrl,      // "https://example.com/a?b=c", "www.example.com"
  kUuid,     // 8-4-4-4-12 hexadecimal groups
  kAlnum,  // letters and digits mixed, or joined by '_': "ORD-12345", "python3", "gpt-4o", "my_var"
  kSymbol,  // one other non-space character (punctuation, operator, currency sign)
};

std::string_view SpanKindName(SpanKind kind);

struct Span {
  SpanKind kind = SpanKind::kWord;
  // Byte range in the scanned text. For kQuoted it is the content between the quote marks, with
  // surrounding whitespace trimmed, so replacing it keeps the quote marks.
  uint32_t begin = 0;
  uint32_t end = 0;
  // True for the first span (not counting symbols such as '(' or '-') of the text, of a line, or
  // after a '.', '!', '?' or ':' that ends a sentence.
  bool sentence_start = false;
  // Number with an ordinal suffix ("3rd"); the suffix is part of the span but not of the value.
  bool ordinal = false;
  // The comparable value:
  //   kNumber  sign, digits, '.', fraction: grouping commas removed ("1,000" -> "1000"); a
  //            fraction of one or two zeros removed ("5.0" -> "5", but "3.10" stays, so software
  //            versions keep their meaning); leading zeros kept ("007" stays distinct from "7")
  //   kDate    "2024-03-04", "xxxx-03-04" (no year), "2024-03" (month and year), "n3/4/2024"
  //            (all-digit date whose day/month order is ambiguous), "t14:30" / "t14:30:05"
  //            (24-hour time)
  //   kWord,
  //   kDayWord the word ASCII-lower-cased
  //   kQuoted  the content (as in begin/end)
  //   kEmail   lower-cased; kUuid lower-cased
  //   kUrl, kAlnum, kSymbol   the raw text
  std::string value;

  std::string_view Raw(std::string_view text) const { return text.substr(begin, end - begin); }
};

// Scans `text` (UTF-8; invalid bytes are treated as symbols) into spans, in order. Whitespace
// belongs to no span.
std::vector<Span> ScanSpans(std::string_view text);
// Same, reusing `out`'s capacity (it is cleared first).
void ScanSpans(std::string_view text, std::vector<Span>* out);

// ASCII lower-casing; other bytes are copied unchanged.
std::string AsciiLower(std::string_view s);

}  // namespace deja::semantic
