// Why a request missed in replay mode: the closest recorded request on the same route and its
// field-by-field difference, so a test author sees at once which field changed.
//
//   ClosestRecording closest(request_namespace, request_keyed_headers, request_body);
//   store.Scan(..., [&](const Entry& e) { closest.Offer(e.key, ..., e.canonical_request, ...); });
//   MissExplanation why = closest.Explain(request_key, route);
//   std::string text = ExplanationMessage(why);
//
// "Closest" is the smallest DiffDistance (number of differing leaf values) over the namespace, the
// headers that enter the key, and the normalized body; ties go to the first offered (key order).
//
// Thread safety: a ClosestRecording is used by one thread; the free functions are pure.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "deja/store.h"
#include "server/json_diff.h"

namespace deja::server {

struct MissExplanation {
  std::string key_hex;  // the request's key
  std::string route;
  size_t recorded_on_route = 0;  // recordings considered
  bool has_closest = false;
  std::string closest_key_hex;
  bool closest_expired = false;
  // left = recorded, right = this request. Pointers are into the normalized body; header
  // differences are named "header NAME", a namespace difference "namespace".
  std::vector<JsonDifference> differences;
};

class ClosestRecording {
 public:
  // The missed request: namespace, keyed headers (canonical JSON object text, "" for none) and
  // normalized body. `body` must outlive this object.
  ClosestRecording(std::string_view name_space, std::string_view keyed_headers,
                   const json::Value& body);

  // Offers one recording. `keyed_headers` is "" when unknown or none; `canonical` the recorded
  // normalized request. Unparseable recordings are skipped.
  void Offer(const CacheKey& key, std::string_view name_space, std::string_view keyed_headers,
             std::string_view canonical, bool expired);

  MissExplanation Explain(const CacheKey& request_key, std::string_view route) const;

 private:
  std::string name_space_;
  json::Value headers_;
  const json::Value& body_;
  size_t offered_ = 0;
  std::optional<size_t> best_distance_;
  CacheKey best_key_;
  bool best_expired_ = false;
  std::vector<JsonDifference> best_;
};

// A few lines for people: the key, the closest recording and up to `max_listed` differences.
std::string ExplanationMessage(const MissExplanation& why, size_t max_listed = 8);

// The same as a JSON object, for tools: {"key","route","recorded_on_route","closest":{"key",
// "expired","differences":[{"pointer","recorded","request"}],"more"}|null}.
json::Value ExplanationJson(const MissExplanation& why, size_t max_listed = 32);

}  // namespace deja::server
