// Word tables of the text scanners: weekdays and relative days, abbreviations, month names, units
// and English number words. Shared by text_spans.cc, guards.cc and answer_template.cc.
//
// Every function takes an ASCII-lower-cased word (text_spans.h Span::value of a kWord).
// Thread safety: pure functions over constant tables.
#pragma once

#include <string_view>

namespace deja::semantic {

// Weekday names and today / tonight / tomorrow / yesterday.
bool IsDayWord(std::string_view lower);

// Words after which a '.' does not end a sentence: single letters (initials, "e.g."), "mr",
// "dr", "vs", "no"...
bool IsAbbreviation(std::string_view lower);

// Month number (1-12) of a month name or abbreviation, 0 otherwise. `word` is the raw text: "May",
// "March" and "Mar" count only when capitalized (they are also common words).
int MonthOf(std::string_view word, std::string_view lower);

// Canonical unit for a unit word or abbreviation ("kg", "kilograms" -> "kg"; "miles" -> "mi";
// "percent" -> "%"; "usd", "dollars" -> "usd"), or "" when `lower_word` is not a unit deja knows.
std::string_view CanonicalUnit(std::string_view lower_word);

// The decimal value of an English number word ("two" -> "2", "twenty" -> "20", "hundred" ->
// "100"), or "" for any other word. "one" is deliberately not a number word: it is mostly a
// pronoun ("which one", "the one that").
std::string_view NumberWordValue(std::string_view lower_word);

}  // namespace deja::semantic
