#include "server/replay_explain.h"

namespace deja::server {
namespace {

json::Value ParseHeaders(std::string_view text) {
  if (text.empty()) return json::Value::MakeObject();
  StatusOr<json::Value> v = json::Parse(text);
  return v.ok() && v->is_object() ? std::move(*v) : json::Value::MakeObject();
}

std::string Quoted(std::string_view s) {
  std::string out;
  json::AppendQuoted(s, &out);
  return out;
}

}  // namespace

ClosestRecording::ClosestRecording(std::string_view name_space, std::string_view keyed_headers,
                                   const json::Value& body)
    : name_space_(name_space), headers_(ParseHeaders(keyed_headers)), body_(body) {}

void ClosestRecording::Offer(const CacheKey& key, std::string_view name_space,
                             std::string_view keyed_headers, std::string_view canonical,
                             bool expired) {
  StatusOr<json::Value> recorded = json::Parse(canonical);
  if (!recorded.ok()) return;
  ++offered_;
  std::vector<JsonDifference> diffs;
  if (name_space != name_space_) {
    diffs.push_back({"namespace", Quoted(name_space), Quoted(name_space_), 1});
  }
  for (JsonDifference& d : DiffJson(ParseHeaders(keyed_headers), headers_)) {
    // Header names are plain tokens; present them as such rather than as pointers.
    d.pointer = "header " + d.pointer.substr(1);
    diffs.push_back(std::move(d));
  }
  for (JsonDifference& d : DiffJson(*recorded, body_)) diffs.push_back(std::move(d));
  const size_t distance = DiffDistance(diffs);
  if (best_distance_ && distance >= *best_distance_) return;
  best_distance_ = distance;
  best_key_ = key;
  best_expired_ = expired;
  best_ = std::move(diffs);
}

MissExplanation ClosestRecording::Explain(const CacheKey& request_key,
                                          std::string_view route) const {
  MissExplanation why;
  why.key_hex = request_key.Hex();
  why.route = std::string(route);
  why.recorded_on_route = offered_;
  if (best_distance_) {
    why.has_closest = true;
    why.closest_key_hex = best_key_.Hex();
    why.closest_expired = best_expired_;
    why.differences = best_;
  }
  return why;
}

std::string ExplanationMessage(const MissExplanation& why, size_t max_listed) {
  std::string out =
      "deja replay: this request was not recorded (key " + why.key_hex + ", " + why.route + ").";
  if (!why.has_closest) {
    return out + " No request on " + why.route +
           " is recorded. Record it with --mode record or --mode record-missing.";
  }
  const size_t n = why.differences.size();
  out += " Closest recorded request: " + why.closest_key_hex + ".";
  if (n == 0) {
    out += why.closest_expired
               ? " It is the same request, but its recording has expired (TTL)."
               : " It has the same body, headers and namespace: it was recorded under another "
                 "tenant scope (API key with tenant_isolation = \"api-key\") or key version.";
    return out;
  }
  out += " It differs in " + std::to_string(n) + (n == 1 ? " field" : " fields") + ":";
  for (size_t i = 0; i < n && i < max_listed; ++i) {
    const JsonDifference& d = why.differences[i];
    out += "\n  " + (d.pointer.empty() ? std::string("(whole body)") : d.pointer) + ": recorded " +
           d.left + ", this request " + d.right;
  }
  if (n > max_listed) out += "\n  … and " + std::to_string(n - max_listed) + " more";
  return out;
}

json::Value ExplanationJson(const MissExplanation& why, size_t max_listed) {
  json::Value out = json::Value::MakeObject();
  out.Set("key", json::Value(why.key_hex));
  out.Set("route", json::Value(why.route));
  out.Set("recorded_on_route", json::Value(static_cast<int64_t>(why.recorded_on_route)));
  if (!why.has_closest) {
    out.Set("closest", json::Value());
    return out;
  }
  json::Value closest = json::Value::MakeObject();
  closest.Set("key", json::Value(why.closest_key_hex));
  closest.Set("expired", json::Value(why.closest_expired));
  json::Value list = json::Value::MakeArray();
  for (size_t i = 0; i < why.differences.size() && i < max_listed; ++i) {
    const JsonDifference& d = why.differences[i];
    json::Value item = json::Value::MakeObject();
    item.Set("pointer", json::Value(d.pointer));
    item.Set("recorded", json::Value(d.left));
    item.Set("request", json::Value(d.right));
    list.Push(std::move(item));
  }
  closest.Set("differences", std::move(list));
  const size_t more = why.differences.size() > max_listed ? why.differences.size() - max_listed : 0;
  closest.Set("more", json::Value(static_cast<int64_t>(more)));
  out.Set("closest", std::move(closest));
  return out;
}

}  // namespace deja::server
