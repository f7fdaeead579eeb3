#include "server/metrics.h"

#include <cstdio>

namespace deja::server {
namespace {

constexpr Route kAllRoutes[] = {Route::kOther,       Route::kChatCompletions,
                                Route::kCompletions, Route::kEmbeddings,
                                Route::kResponses,   Route::kAnthropicMessages};

std::string_view RouteLabel(Route r) {
  std::string_view p = RoutePath(r);
  return p.empty() ? std::string_view("other") : p;
}

void AppendInt(int64_t v, std::string* out) { *out += std::to_string(v); }

void AppendDouble(double v, std::string* out) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%.6f", v);
  out->append(buf, static_cast<size_t>(n));
}

}  // namespace

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kHit:
      return "hit";
    case Outcome::kMiss:
      return "miss";
    case Outcome::kBypass:
      return "bypass";
    case Outcome::kRefresh:
      return "refresh";
    case Outcome::kError:
      return "error";
    case Outcome::kRejected:
      return "rejected";
    case Outcome::kProxied:
      return "proxied";
    case Outcome::kCount:
      break;
  }
  return "unknown";
}

std::string_view ErrorKindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::kStore:
      return "store";
    case ErrorKind::kKey:
      return "key";
    case ErrorKind::kUpstream:
      return "upstream";
    case ErrorKind::kSingleFlightWait:
      return "single_flight_wait";
    case ErrorKind::kConversion:
      return "conversion";
    case ErrorKind::kEmbedder:
      return "embedder";
    case ErrorKind::kSemanticIndex:
      return "semantic_index";
    case ErrorKind::kCount:
      break;
  }
  return "unknown";
}

void LatencyHistogram::Observe(int64_t micros) {
  size_t i = 0;
  while (i < kBoundsUs.size() && micros > kBoundsUs[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(micros, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::Render(std::string_view name, std::string_view labels,
                              std::string* out) const {
  *out += "# TYPE ";
  *out += name;
  *out += " histogram\n";
  int64_t cumulative = 0;
  for (size_t i = 0; i <= kBoundsUs.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    *out += name;
    *out += "_bucket{";
    if (!labels.empty()) {
      *out += labels;
      *out += ',';
    }
    *out += "le=\"";
    if (i < kBoundsUs.size()) {
      AppendDouble(static_cast<double>(kBoundsUs[i]) / 1e6, out);
    } else {
      *out += "+Inf";
    }
    *out += "\"} ";
    AppendInt(cumulative, out);
    *out += '\n';
  }
  *out += name;
  *out += "_sum ";
  AppendDouble(static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6, out);
  *out += '\n';
  *out += name;
  *out += "_count ";
  AppendInt(count_.load(std::memory_order_relaxed), out);
  *out += '\n';
}

void Metrics::CountRequest(Route route, Outcome outcome) {
  requests_[static_cast<size_t>(route) * kOutcomes + static_cast<size_t>(outcome)].fetch_add(
      1, kRelaxed);
}

int64_t Metrics::requests(Route route, Outcome outcome) const {
  return requests_[static_cast<size_t>(route) * kOutcomes + static_cast<size_t>(outcome)].load(
      kRelaxed);
}

void Metrics::CountError(ErrorKind kind) {
  errors_[static_cast<size_t>(kind)].fetch_add(1, kRelaxed);
}

int64_t Metrics::errors(ErrorKind kind) const {
  return errors_[static_cast<size_t>(kind)].load(kRelaxed);
}

void Metrics::CountUpstreamStatus(int status) {
  size_t cls = status >= 100 && status < 600 ? static_cast<size_t>(status / 100 - 1) : 5;
  upstream_status_[cls].fetch_add(1, kRelaxed);
}

void Metrics::CountStored(int64_t bytes) {
  bytes_stored_.fetch_add(bytes, kRelaxed);
  entries_stored_.fetch_add(1, kRelaxed);
}

double DollarsFor(const std::map<std::string, ModelPrice>& prices, std::string_view model,
                  int64_t input_tokens, int64_t output_tokens) {
  auto it = prices.find(std::string(model));
  if (it == prices.end()) it = prices.find("*");
  if (it == prices.end()) return 0;
  return (static_cast<double>(input_tokens) * it->second.input_per_mtok +
          static_cast<double>(output_tokens) * it->second.output_per_mtok) /
         1e6;
}

void Metrics::CountSaved(std::string_view model, int64_t input_tokens, int64_t output_tokens) {
  input_tokens_saved_.fetch_add(input_tokens, kRelaxed);
  output_tokens_saved_.fetch_add(output_tokens, kRelaxed);
  const double dollars = DollarsFor(prices_, model, input_tokens, output_tokens);
  if (dollars == 0) return;
  micro_dollars_saved_.fetch_add(static_cast<int64_t>(dollars * 1e6 + 0.5), kRelaxed);
}

double Metrics::dollars_saved() const {
  return static_cast<double>(micro_dollars_saved_.load(kRelaxed)) / 1e6;
}

std::string Metrics::Render(const StoreStats* store) const {
  std::string out;
  out.reserve(8192);
  out += "# HELP deja_requests_total Requests by route and cache outcome.\n";
  out += "# TYPE deja_requests_total counter\n";
  for (Route r : kAllRoutes) {
    for (size_t o = 0; o < kOutcomes; ++o) {
      int64_t v = requests(r, static_cast<Outcome>(o));
      if (v == 0 && r == Route::kOther) continue;
      out += "deja_requests_total{route=\"";
      out += RouteLabel(r);
      out += "\",outcome=\"";
      out += OutcomeName(static_cast<Outcome>(o));
      out += "\"} ";
      AppendInt(v, &out);
      out += '\n';
    }
  }
  out += "# HELP deja_errors_total Failures deja absorbed (the request still got an answer).\n";
  out += "# TYPE deja_errors_total counter\n";
  for (size_t k = 0; k < errors_.size(); ++k) {
    out += "deja_errors_total{kind=\"";
    out += ErrorKindName(static_cast<ErrorKind>(k));
    out += "\"} ";
    AppendInt(errors_[k].load(kRelaxed), &out);
    out += '\n';
  }
  out += "# TYPE deja_upstream_responses_total counter\n";
  static constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
  for (size_t i = 0; i < upstream_status_.size(); ++i) {
    out += "deja_upstream_responses_total{class=\"";
    out += kClasses[i];
    out += "\"} ";
    AppendInt(upstream_status_[i].load(kRelaxed), &out);
    out += '\n';
  }
  hit_latency_.Render("deja_hit_latency_seconds", "", &out);
  miss_latency_.Render("deja_miss_latency_seconds", "", &out);
  upstream_latency_.Render("deja_upstream_latency_seconds", "", &out);
  auto counter = [&out](std::string_view name, std::string_view help, int64_t v) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " counter\n";
    out += name;
    out += ' ';
    AppendInt(v, &out);
    out += '\n';
  };
  counter("deja_stored_bytes_total", "Bytes of entries written.", bytes_stored_.load(kRelaxed));
  counter("deja_stored_entries_total", "Entries written.", entries_stored_.load(kRelaxed));
  counter("deja_single_flight_followers_total", "Misses that waited for an identical one.",
          single_flight_followers_.load(kRelaxed));
  out += "# HELP deja_tokens_saved_total Tokens not paid for thanks to hits.\n";
  out += "# TYPE deja_tokens_saved_total counter\n";
  out += "deja_tokens_saved_total{kind=\"input\"} ";
  AppendInt(input_tokens_saved_.load(kRelaxed), &out);
  out += "\ndeja_tokens_saved_total{kind=\"output\"} ";
  AppendInt(output_tokens_saved_.load(kRelaxed), &out);
  out += "\n# HELP deja_dollars_saved_total Estimated dollars saved (configured price table).\n";
  out += "# TYPE deja_dollars_saved_total counter\ndeja_dollars_saved_total ";
  AppendDouble(dollars_saved(), &out);
  out += '\n';
  if (store != nullptr) {
    out += "# TYPE deja_store_entries gauge\ndeja_store_entries ";
    AppendInt(store->entries, &out);
    out += "\n# TYPE deja_store_bytes gauge\ndeja_store_bytes ";
    AppendInt(store->bytes, &out);
    out += "\n# TYPE deja_store_evictions_total counter\ndeja_store_evictions_total ";
    AppendInt(store->evictions, &out);
    out += "\n# TYPE deja_store_expirations_total counter\ndeja_store_expirations_total ";
    AppendInt(store->expirations, &out);
    out += '\n';
  }
  return out;
}

}  // namespace deja::server
