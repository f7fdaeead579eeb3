// Field-by-field difference of two JSON documents, for people: "why did my request not match the
// recorded one?" (replay misses) and "what changed in this cassette?" (`deja cassette diff`).
//
//   std::vector<JsonDifference> d = DiffJson(recorded, request);
//   // d[0].pointer == "/messages/0/content", d[0].left == "\"hello\"", d[0].right == "\"hi\""
//
// Objects are compared member by member (names in sorted order), arrays element by element at the
// same index, anything else by value. A member present on one side only is one difference whose
// other side is absent. The comparison is deliberately simple: an element inserted at the front of
// an array shifts every later one, which shows up as several differences (and a larger distance).
//
// Thread safety: free functions over values; safe to call concurrently.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace deja::server {

struct JsonDifference {
  std::string pointer;  // RFC 6901 pointer of the differing value ("" = the whole document)
  std::string left;     // compact JSON of the left value, abbreviated; "(absent)" when missing
  std::string right;    // same for the right value
  size_t weight = 1;    // leaf values involved (a missing subtree of 3 leaves weighs 3)
};

// Longest rendering of one value in a JsonDifference; longer ones end in "…".
inline constexpr size_t kDiffValueChars = 80;

// Differences between `left` and `right` in document order. `max_chars` bounds each rendered value.
std::vector<JsonDifference> DiffJson(const json::Value& left, const json::Value& right,
                                     size_t max_chars = kDiffValueChars);

// Sum of the weights: 0 when equal. Used to pick the closest of several documents.
size_t DiffDistance(const std::vector<JsonDifference>& diffs);

// Compact JSON of `v`, cut to at most `max_chars` bytes (at a UTF-8 boundary) plus "…".
std::string AbbreviateJson(const json::Value& v, size_t max_chars = kDiffValueChars);

// Appends `token` to a JSON pointer with RFC 6901 escaping ("~" -> "~0", "/" -> "~1").
void AppendPointerToken(std::string_view token, std::string* pointer);

}  // namespace deja::server
