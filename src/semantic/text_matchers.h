// Matchers for the multi-character spans text_spans.cc recognizes in one step: URLs, e-mail
// addresses, UUIDs, and the pass that joins month names with days and years into dates.
// Internal to src/semantic (text_spans.h is the interface).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "semantic/text_spans.h"

namespace deja::semantic::text_internal {

// Each returns the end offset of the match starting at `i`, or 0 when there is none. The caller
// checks that `i` starts a word (no letter or digit just before it).
size_t MatchUrl(std::string_view t, size_t i);    // "https://", "http://", "ftp://", "www."
size_t MatchEmail(std::string_view t, size_t i);  // local@domain.tld (ASCII)
size_t MatchUuid(std::string_view t, size_t i);   // 8-4-4-4-12 hexadecimal digits

// Replaces month names with adjacent days and years by kDate spans, in place: "March 3",
// "March 3rd, 2024", "3 March 2024", "3rd of March", "March 2024", "Jan. 5".
void CombineDates(std::string_view t, std::vector<Span>* spans);

}  // namespace deja::semantic::text_internal
