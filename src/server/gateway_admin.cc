// Operational endpoints: GET /healthz, GET /metrics, GET /deja/stats, GET /deja/shadow (shadow
// mode's report), and the admin calls
// DELETE /deja/entries/{key} and POST /deja/purge (these need the admin token).
#include <string>

#include "core/json.h"
#include "server/embedder_breaker_metrics.h"
#include "server/gateway.h"
#include "server/gateway_call.h"
#include "server/provider_errors.h"

namespace deja::server {
namespace {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void SendJson(ResponseWriter& w, int status, std::string body) {
  w.Send(status, {{"Content-Type", "application/json"}}, std::move(body));
}

void SendError(ResponseWriter& w, int status, std::string_view message) {
  SendJson(w, status, ErrorBody(Provider::kOpenAI, status, message));
}

json::Value StatsJson(const StoreStats& s, Metrics& m) {
  json::Value store = json::Value::MakeObject();
  store.Set("entries", json::Value(s.entries));
  store.Set("bytes", json::Value(s.bytes));
  store.Set("capacity_bytes", json::Value(s.capacity_bytes));
  store.Set("evictions", json::Value(s.evictions));
  store.Set("expirations", json::Value(s.expirations));
  store.Set("map_size_bytes", json::Value(s.map_size_bytes));
  store.Set("map_used_bytes", json::Value(s.map_used_bytes));
  json::Value requests = json::Value::MakeObject();
  for (Route r : {Route::kChatCompletions, Route::kCompletions, Route::kEmbeddings,
                  Route::kResponses, Route::kAnthropicMessages, Route::kOther}) {
    json::Value by_outcome = json::Value::MakeObject();
    for (int o = 0; o < static_cast<int>(Outcome::kCount); ++o) {
      by_outcome.Set(std::string(OutcomeName(static_cast<Outcome>(o))),
                     json::Value(m.requests(r, static_cast<Outcome>(o))));
    }
    std::string_view path = RoutePath(r);
    requests.Set(path.empty() ? "other" : std::string(path), std::move(by_outcome));
  }
  json::Value errors = json::Value::MakeObject();
  for (int k = 0; k < static_cast<int>(ErrorKind::kCount); ++k) {
    errors.Set(std::string(ErrorKindName(static_cast<ErrorKind>(k))),
               json::Value(m.errors(static_cast<ErrorKind>(k))));
  }
  json::Value out = json::Value::MakeObject();
  out.Set("store", std::move(store));
  out.Set("requests", std::move(requests));
  out.Set("errors", std::move(errors));
  out.Set("dollars_saved", json::Value(m.dollars_saved()));
  return out;
}

}  // namespace

void Gateway::HandleAdmin(const HttpRequest& request, ResponseWriter& w, int64_t start_us) {
  (void)start_us;
  const std::string& path = request.path;
  if (path == "/healthz") {
    SendJson(w, 200, R"({"status":"ok"})");
    return;
  }
  if (path == "/metrics" || path == "/deja/stats") {
    if (request.method != "GET") return SendError(w, 405, "use GET");
    StatusOr<StoreStats> stats = deps_.store->Stats();
    if (!stats.ok()) metrics_.CountError(ErrorKind::kStore);
    if (path == "/metrics") {
      std::string text = metrics_.Render(stats.ok() ? &*stats : nullptr);
      if (semantic_ != nullptr) {
        semantic_metrics_.Render(semantic_gauges(), &text);
        RenderEmbedderBreaker(semantic_->embedder(), &text);
      }
      w.Send(200, {{"Content-Type", "text/plain; version=0.0.4"}}, std::move(text));
    } else {
      json::Value out = StatsJson(stats.ok() ? *stats : StoreStats{}, metrics_);
      if (semantic_ != nullptr) {
        json::Value semantic = semantic_metrics_.ToJson(semantic_gauges());
        AddEmbedderBreakerJson(semantic_->embedder(), &semantic);
        out.Set("semantic", std::move(semantic));
      }
      SendJson(w, 200, json::Write(out));
    }
    return;
  }

  if (path == "/deja/shadow") {
    if (request.method != "GET") return SendError(w, 405, "use GET");
    if (!shadow_) {
      return SendError(w, 404, "shadow mode is off: start deja with --mode shadow");
    }
    return SendJson(w, 200, json::Write(shadow_->ToJson()));
  }

  // Everything else under /deja/ changes the cache: admin token required.
  if (options_.server.admin_token.empty()) {
    return SendError(w, 403,
                     "admin endpoints are disabled: set server.admin_token (--admin-token)");
  }
  std::string_view given = request.Header("x-deja-admin-token");
  std::string_view auth = request.Header("authorization");
  if (given.empty() && auth.size() > 7 && auth.substr(0, 7) == "Bearer ") given = auth.substr(7);
  if (!ConstantTimeEquals(given, options_.server.admin_token)) {
    return SendError(w, 401, "missing or wrong admin token");
  }

  constexpr std::string_view kEntries = "/deja/entries/";
  if (path.compare(0, kEntries.size(), kEntries) == 0) {
    if (request.method != "DELETE") return SendError(w, 405, "use DELETE");
    StatusOr<CacheKey> key = CacheKey::FromHex(std::string_view(path).substr(kEntries.size()));
    if (!key.ok()) return SendError(w, 400, key.status().message());
    Status st = deps_.store->Delete(*key);
    // The semantic index forgets it too. With GatewayDeps::removals the store has already told
    // OnRemoved; without, this is where it learns.
    if (semantic_ != nullptr && (st.ok() || st.code() == StatusCode::kNotFound)) {
      OnRemoved(std::span<const CacheKey>(&*key, 1), RemovalCause::kDeleted);
    }
    if (st.code() == StatusCode::kNotFound) return SendError(w, 404, "no entry with that key");
    if (!st.ok()) return SendError(w, 500, st.ToString());
    return SendJson(w, 200, R"({"deleted":1})");
  }
  if (path == "/deja/purge") {
    if (request.method != "POST") return SendError(w, 405, "use POST");
    StatusOr<json::Value> body = json::Parse(request.body.empty() ? "{}" : request.body);
    if (!body.ok() || !body->is_object()) {
      return SendError(w, 400,
                       "purge takes a JSON object: {\"namespace\", \"model\", "
                       "\"older_than_s\"} or {\"all\": true}");
    }
    ScanOptions filter;
    bool any = false;
    if (const json::Value* ns = body->Find("namespace"); ns != nullptr && ns->is_string()) {
      filter.name_space = ns->as_string();
      filter.filter_namespace = any = true;
    }
    if (const json::Value* m = body->Find("model"); m != nullptr && m->is_string()) {
      filter.model = m->as_string();
      any = true;
    }
    if (const json::Value* age = body->Find("older_than_s"); age != nullptr && age->is_number()) {
      filter.created_before_ms =
          clock_->NowMillis() - static_cast<int64_t>(age->as_number() * 1000);
      any = true;
    }
    const json::Value* all = body->Find("all");
    if (!any && !(all != nullptr && all->is_bool() && all->as_bool())) {
      return SendError(w, 400, "purge needs a filter (namespace, model, older_than_s) or all:true");
    }
    filter.include_expired = true;
    filter.with_response = false;
    StatusOr<int64_t> purged = deps_.store->Purge(filter);
    if (!purged.ok()) return SendError(w, 500, purged.status().ToString());
    return SendJson(w, 200, "{\"purged\":" + std::to_string(*purged) + "}");
  }
  SendError(w, 404, "no such admin endpoint: " + path);
}

}  // namespace deja::server
