#include "server/shadow_report.h"

#include "server/cassette_format.h"
#include "server/metrics.h"

namespace deja::server {
namespace {

json::Value Int(int64_t v) { return json::Value(static_cast<double>(v)); }

double Rate(int64_t part, int64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

constexpr size_t kExact = static_cast<size_t>(ShadowTier::kExact);
constexpr size_t kSemantic = static_cast<size_t>(ShadowTier::kSemantic);

}  // namespace

ShadowReport::ShadowReport(std::map<std::string, ModelPrice> prices) : prices_(std::move(prices)) {}

void ShadowReport::Tally::Add(const ShadowObservation& o, double dollars) {
  ++requests;
  if (o.would_be == ShadowTier::kNone) return;
  const size_t tier = static_cast<size_t>(o.would_be);
  ++hits[tier];
  if (!o.comparable) {
    ++uncomparable;
    return;
  }
  ++comparable[tier];
  if (!o.equivalent) {
    ++false_hits[tier];
    return;
  }
  ++saved_requests;
  saved_input_tokens += o.input_tokens;
  saved_output_tokens += o.output_tokens;
  saved_dollars += dollars;
  saved_latency_us += o.upstream_latency_us;
}

json::Value ShadowReport::Tally::ToJson(bool detailed) const {
  json::Value out = json::Value::MakeObject();
  out.Set("requests", Int(requests));
  json::Value would_be = json::Value::MakeObject();
  would_be.Set("exact", Int(hits[kExact]));
  would_be.Set("semantic", Int(hits[kSemantic]));
  out.Set("would_be_hits", std::move(would_be));
  json::Value wrong = json::Value::MakeObject();
  wrong.Set("exact", Int(false_hits[kExact]));
  wrong.Set("semantic", Int(false_hits[kSemantic]));
  out.Set("false_hits", std::move(wrong));
  if (detailed) {
    json::Value rate = json::Value::MakeObject();
    rate.Set("exact", json::Value(Rate(false_hits[kExact], comparable[kExact])));
    rate.Set("semantic", json::Value(Rate(false_hits[kSemantic], comparable[kSemantic])));
    out.Set("false_hit_rate", std::move(rate));
    out.Set("hit_rate", json::Value(Rate(hits[kExact] + hits[kSemantic], requests)));
    out.Set("uncomparable_hits", Int(uncomparable));
  }
  json::Value savings = json::Value::MakeObject();
  savings.Set("requests", Int(saved_requests));
  savings.Set("input_tokens", Int(saved_input_tokens));
  savings.Set("output_tokens", Int(saved_output_tokens));
  savings.Set("dollars", json::Value(saved_dollars));
  savings.Set("upstream_latency_ms", json::Value(static_cast<double>(saved_latency_us) / 1000.0));
  out.Set("savings", std::move(savings));
  return out;
}

void ShadowReport::Record(const ShadowObservation& o) {
  const double dollars = DollarsFor(prices_, o.model, o.input_tokens, o.output_tokens);
  std::lock_guard<std::mutex> lock(mu_);
  all_.Add(o, dollars);
  (o.deterministic ? deterministic_ : nondeterministic_).Add(o, dollars);
  by_model_[o.model.empty() ? std::string("(none)") : o.model].Add(o, dollars);
}

int64_t ShadowReport::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return all_.requests;
}

json::Value ShadowReport::ToJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  json::Value out = all_.ToJson(true);
  out.Set("deterministic", deterministic_.ToJson(true));
  out.Set("nondeterministic", nondeterministic_.ToJson(true));
  json::Value models = json::Value::MakeObject();
  for (const auto& [model, tally] : by_model_) models.Set(model, tally.ToJson(false));
  out.Set("by_model", std::move(models));
  json::Value caveats = json::Value::MakeArray();
  caveats.Push(json::Value(
      "Hit counts are a lower bound: entries evicted or expired during the observation were not "
      "there to hit."));
  caveats.Push(json::Value(
      "Savings are credited only for would-be hits whose stored answer matched the fresh one "
      "(text and tool calls; ids, timestamps and usage ignored)."));
  caveats.Push(json::Value(
      "Temperature 0 is not a guarantee of determinism: providers may answer a repeated "
      "temperature-0 request differently, which shows up here as a false hit."));
  caveats.Push(json::Value(
      "Requests with temperature above 0 are expected to differ between calls; their false-hit "
      "rate measures sampling variation as much as cache quality."));
  out.Set("caveats", std::move(caveats));
  return out;
}

Status WriteShadowReport(const ShadowReport& report, const std::string& path) {
  std::string text;
  json::AppendPretty(report.ToJson(), 0, &text);
  text += '\n';
  return WriteFileAtomically(path, text);
}

}  // namespace deja::server
