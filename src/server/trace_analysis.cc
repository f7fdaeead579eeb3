#include "server/trace_analysis.h"

#include <algorithm>

#include "core/json.h"
#include "server/answer_compare.h"
#include "server/gateway.h"
#include "server/stream_convert.h"

namespace deja::server {
namespace {

// The route of an exchange: stated, else read off the answer's type.
StatusOr<Route> RouteOf(const json::Value& line, const json::Value& response) {
  if (const json::Value* r = line.Find("route"); r != nullptr) {
    if (!r->is_string()) return InvalidArgumentError("\"route\" must be a path string");
    Route route = RouteFromPath(r->as_string());
    if (route == Route::kOther) {
      return InvalidArgumentError("\"route\" " + r->as_string() + " is not a route deja caches");
    }
    return route;
  }
  const std::string_view object = response.GetString("object");
  if (object == "chat.completion") return Route::kChatCompletions;
  if (object == "text_completion") return Route::kCompletions;
  if (object == "response") return Route::kResponses;
  if (object == "list") return Route::kEmbeddings;
  if (response.GetString("type") == "message") return Route::kAnthropicMessages;
  return InvalidArgumentError(
      "cannot tell the route: add \"route\" (e.g. \"/v1/chat/completions\") to the line");
}

}  // namespace

StatusOr<std::unique_ptr<TraceAnalyzer>> TraceAnalyzer::Create(const GatewayOptions& options) {
  DEJA_RETURN_IF_ERROR(options.Validate());
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<Normalizer> normalizer,
                        Normalizer::Create(NormalizeOptionsFor(options.cache)));
  return std::unique_ptr<TraceAnalyzer>(new TraceAnalyzer(options, std::move(normalizer)));
}

TraceAnalyzer::TraceAnalyzer(const GatewayOptions& options, std::unique_ptr<Normalizer> normalizer)
    : options_(options), normalizer_(std::move(normalizer)), report_(options.prices) {}

Status TraceAnalyzer::AddLine(std::string_view text) {
  DEJA_ASSIGN_OR_RETURN(json::Value line, json::Parse(text));
  if (!line.is_object()) return InvalidArgumentError("a trace line must be a JSON object");
  json::Value* request = line.Find("request");
  const json::Value* response = line.Find("response");
  if (request == nullptr || !request->is_object()) {
    return InvalidArgumentError("\"request\" must be the provider request object");
  }
  if (response == nullptr || !response->is_object()) {
    return InvalidArgumentError("\"response\" must be the provider's (non-stream) answer object");
  }
  DEJA_ASSIGN_OR_RETURN(Route route, RouteOf(line, *response));
  int status = 200;
  if (const json::Value* s = line.Find("status"); s != nullptr && s->is_number()) {
    status = static_cast<int>(s->as_number());
  }
  std::vector<std::pair<std::string, std::string>> headers;
  if (const json::Value* h = line.Find("headers"); h != nullptr && h->is_object()) {
    for (const auto& [name, value] : h->as_object()) {
      if (value.is_string()) headers.emplace_back(name, value.as_string());
    }
  }

  ShadowObservation o;
  o.route = route;
  o.deterministic = TemperatureOf(*request) == 0;
  CachedResponse fresh;
  fresh.status = status;
  fresh.content_type = "application/json";
  fresh.body = json::Write(*response);
  const Usage usage = ExtractUsage(route, fresh.body);
  o.model = usage.model.empty() ? std::string(request->GetString("model")) : usage.model;
  o.input_tokens = usage.input_tokens;
  o.output_tokens = usage.output_tokens;
  if (const json::Value* l = line.Find("latency_ms"); l != nullptr && l->is_number()) {
    o.upstream_latency_us = static_cast<int64_t>(l->as_number() * 1000);
  }

  const bool cached_route = options_.cache.enabled &&
                            std::find(options_.cache.routes.begin(), options_.cache.routes.end(),
                                      RoutePath(route)) != options_.cache.routes.end();
  if (!cached_route || PolicyBypassesBody(options_.cache, route, *request)) {
    report_.Record(o);  // live mode would have bypassed the cache
    return Status::Ok();
  }
  StatusOr<NormalizedRequest> normalized =
      normalizer_->Normalize(route, std::move(*request), headers);
  if (!normalized.ok()) {
    report_.Record(o);  // no key: live mode forwards it
    return Status::Ok();
  }
  std::string tenant(kSharedScopeCredential);
  if (const json::Value* s = line.Find("tenant"); s != nullptr && s->is_string()) {
    tenant = s->as_string();
  }
  const std::string_view name_space = line.GetString("namespace");
  const CacheKey key =
      ComputeKey(ScopeForCredential(secret_, tenant), name_space, route, *normalized);
  const std::string id(key.View());
  const bool ok_answer = status >= 200 && status < 300;
  StatusOr<std::string> fingerprint =
      ok_answer ? StructuredFingerprint(route, fresh) : StatusOr<std::string>(std::string());
  auto it = stored_.find(id);
  if (it == stored_.end()) {
    if (ok_answer && fingerprint.ok()) stored_.emplace(id, std::move(*fingerprint));
    report_.Record(o);
    return Status::Ok();
  }
  o.would_be = ShadowTier::kExact;
  o.comparable = ok_answer && fingerprint.ok();
  o.equivalent = o.comparable && *fingerprint == it->second;
  report_.Record(o);
  return Status::Ok();
}

}  // namespace deja::server
