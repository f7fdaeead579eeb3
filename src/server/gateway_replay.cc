// Replay mode's answer to a request that was not recorded: 404 `not_recorded` in the provider's
// error shape, naming the request's key and the closest recording with its differences, so a test
// author sees at once which field changed. Runs on a worker thread (it scans the store).
#include <string>

#include "core/json.h"
#include "server/gateway.h"
#include "server/gateway_call.h"
#include "server/provider_errors.h"
#include "server/replay_explain.h"

namespace deja::server {

void Gateway::RejectNotRecorded(Call& c) {
  ClosestRecording closest(c.controls.name_space, c.normalized.keyed_headers, c.normalized.body);
  const std::string route(RoutePath(c.route));
  if (deps_.cassette != nullptr) {
    deps_.cassette->ForEachRecord([&](const CassetteRecord& r) {
      if (r.entry.meta.route == route) {
        closest.Offer(r.entry.key, r.entry.meta.name_space, r.keyed_headers,
                      r.entry.canonical_request, false);
      }
      return true;
    });
  } else {
    // A data-directory store does not keep the keyed headers: assume they match rather than
    // report a difference that may not exist.
    const int64_t now = clock_->NowMillis();
    ScanOptions o;
    o.include_expired = true;
    Status scanned = deps_.store->Scan(o, [&](const Entry& e) {
      if (e.meta.route == route) {
        closest.Offer(e.key, e.meta.name_space, c.normalized.keyed_headers, e.canonical_request,
                      e.meta.expires_at_ms != 0 && e.meta.expires_at_ms <= now);
      }
      return true;
    });
    if (!scanned.ok()) metrics_.CountError(ErrorKind::kStore);
  }
  const MissExplanation why = closest.Explain(c.key, route);

  std::string body = ErrorBody(c.provider, 404, ExplanationMessage(why), "not_recorded");
  // The same explanation, structured, for tools: error.deja (SDKs ignore unknown members).
  if (StatusOr<json::Value> doc = json::Parse(body); doc.ok()) {
    if (json::Value* error = doc->Find("error"); error != nullptr && error->is_object()) {
      json::Value detail = ExplanationJson(why);
      detail.Set("code", json::Value("not_recorded"));
      error->Set("deja", std::move(detail));
      body = json::Write(*doc);
    }
  }
  Headers headers = {{"Content-Type", "application/json"},
                     {"X-Deja-Cache", "not-recorded"},
                     {"X-Deja-Key", c.key_hex}};
  c.writer->Send(404, std::move(headers), std::move(body));
  c.cache_header = "not-recorded";
  Finish(c, 404, Outcome::kRejected);
}

}  // namespace deja::server
