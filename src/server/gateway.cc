#include "server/gateway.h"

#include <algorithm>

#include "core/json.h"
#include "server/gateway_call.h"
#include "server/provider_errors.h"

namespace deja::server {

bool IsEventStream(std::string_view content_type) {
  return content_type.substr(0, 17) == "text/event-stream";
}

double TemperatureOf(const json::Value& body) {
  const json::Value* t = body.Find("temperature");
  return t != nullptr && t->is_number() ? t->as_number() : 1;
}

NormalizeOptions NormalizeOptionsFor(const CachePolicyOptions& cache) {
  NormalizeOptions n;
  n.ignore_pointers = cache.ignore_pointers;
  n.strip_patterns = cache.strip_patterns;
  n.alias_tool_call_ids = cache.alias_tool_call_ids;
  return n;
}

bool PolicyBypassesBody(const CachePolicyOptions& cache, Route route, const json::Value& body) {
  if (!cache.models.empty() && std::find(cache.models.begin(), cache.models.end(),
                                         body.GetString("model")) == cache.models.end()) {
    return true;
  }
  if (!cache.cache_nonzero_temperature && route != Route::kEmbeddings) {
    return TemperatureOf(body) > 0;
  }
  return false;
}

StatusOr<GatewayMode> ParseGatewayMode(std::string_view name) {
  if (name == "live") return GatewayMode::kLive;
  if (name == "record") return GatewayMode::kRecord;
  if (name == "replay") return GatewayMode::kReplay;
  if (name == "record-missing") return GatewayMode::kRecordMissing;
  if (name == "shadow") return GatewayMode::kShadow;
  return InvalidArgumentError("unknown mode \"" + std::string(name) +
                              "\" (live, record, replay, record-missing or shadow)");
}

StatusOr<std::unique_ptr<Gateway>> Gateway::Create(const GatewayOptions& options,
                                                   GatewayDeps deps) {
  DEJA_RETURN_IF_ERROR(options.Validate());
  GatewayOptions effective = options;
  if (deps.cassette != nullptr) {
    if (deps.store == nullptr) deps.store = deps.cassette;
    if (deps.store != deps.cassette) {
      return InvalidArgumentError("with a cassette, the gateway's store must be the cassette");
    }
    // Cassette keys must not depend on the machine or the caller's API key (cassette_format.h).
    deps.secret = CassetteSecret();
    effective.cache.tenant_isolation = "shared";
  }
  if (deps.store == nullptr || deps.upstream == nullptr) {
    return InvalidArgumentError("gateway needs a store and an upstream client");
  }
  DEJA_ASSIGN_OR_RETURN(GatewayMode mode, ParseGatewayMode(options.server.mode));
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<Normalizer> normalizer,
                        Normalizer::Create(NormalizeOptionsFor(options.cache)));
  auto gateway = std::unique_ptr<Gateway>(new Gateway(effective, deps, std::move(normalizer)));
  gateway->mode_ = mode;
  if (mode == GatewayMode::kShadow) {
    if (deps.cassette != nullptr) {
      return InvalidArgumentError("shadow mode measures a live cache: it takes no cassette");
    }
    gateway->shadow_ = std::make_unique<ShadowReport>(options.prices);
  }
  // The semantic tier serves live traffic only: test modes and cassettes stay exact.
  if (options.semantic.enabled && deps.cassette == nullptr &&
      (mode == GatewayMode::kLive || mode == GatewayMode::kShadow)) {
    if (deps.semantic == nullptr) {
      return InvalidArgumentError(
          "semantic.enabled needs a semantic cache (GatewayDeps::semantic)");
    }
    gateway->semantic_ = deps.semantic;
    DEJA_ASSIGN_OR_RETURN(gateway->verify_match_, ParseAnswerMatch(options.semantic.verify));
    // The index now follows the store's removals as they happen.
    if (deps.removals != nullptr) deps.removals->SetTarget(gateway.get());
  }
  return gateway;
}

Gateway::Gateway(const GatewayOptions& options, GatewayDeps deps,
                 std::unique_ptr<Normalizer> normalizer)
    : options_(options),
      deps_(deps),
      clock_(deps.clock != nullptr ? deps.clock : SystemClock()),
      normalizer_(std::move(normalizer)),
      metrics_(options.prices),
      access_log_(deps.access_log_fd, options.server.access_log),
      workers_(std::make_unique<WorkerPool>(options.server.upstream_threads)) {
  shared_scope_ = ScopeForCredential(deps_.secret, kSharedScopeCredential);
  for (const std::string& path : options_.cache.routes) {
    route_enabled_[static_cast<size_t>(RouteFromPath(path))] = true;
  }
  route_enabled_[static_cast<size_t>(Route::kOther)] = false;
}

Gateway::~Gateway() {
  // Detach first: SetTarget waits for removals being delivered to this gateway.
  if (semantic_ != nullptr && deps_.removals != nullptr) deps_.removals->SetTarget(nullptr);
  Drain();
}

void Gateway::Drain() { workers_.reset(); }

void Gateway::Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  const int64_t start_us = SteadyMicros();
  if (request.path == "/healthz" || request.path == "/metrics" ||
      request.path.compare(0, 6, "/deja/") == 0) {
    HandleAdmin(request, *writer, start_us);
    return;
  }
  auto call = std::make_shared<Call>();
  call->start_us = start_us;
  call->route = RouteFromPath(request.path);
  call->provider = RouteProvider(call->route);
  call->http = std::move(request);
  call->writer = std::move(writer);
  if (call->route == Route::kOther) {
    // Uncached paths go to the provider the headers point at (Anthropic callers send x-api-key or
    // anthropic-version; OpenAI callers neither).
    if (!call->http.Header("anthropic-version").empty() ||
        !call->http.Header("x-api-key").empty()) {
      call->provider = Provider::kAnthropic;
    }
    if (mode_ == GatewayMode::kReplay) {
      Reject(*call, 404,
             "deja replay: " + call->http.method + " " + call->http.path +
                 " is not a recorded route; replay mode never calls the upstream",
             "not_recorded");
      return;
    }
    call->outcome = Outcome::kProxied;
    workers_->Submit([this, call] { Proxy(call); });
    return;
  }
  HandleCached(std::move(call));
}

void Gateway::HandleCached(std::shared_ptr<Call> call) {
  Call& c = *call;
  if (c.http.method != "POST") {
    Reject(c, 405, "Method " + c.http.method + " is not allowed on " + c.http.path + "; use POST",
           "method_not_allowed");
    return;
  }
  StatusOr<RequestControls> controls = ParseRequestControls(c.http.headers);
  if (!controls.ok()) {
    Reject(c, 400, controls.status().message(), "invalid_cache_control");
    return;
  }
  c.controls = std::move(*controls);
  json::ParseOptions parse_options;
  parse_options.max_depth = static_cast<size_t>(options_.server.max_json_depth);
  parse_options.max_size = static_cast<size_t>(options_.server.max_body_bytes);
  StatusOr<json::Value> body = json::Parse(c.http.body, parse_options);
  if (!body.ok()) {
    Reject(c, 400, "We could not parse the JSON body of your request: " + body.status().message(),
           "invalid_json");
    return;
  }
  if (!body->is_object()) {
    Reject(c, 400, "The request body must be a JSON object", "invalid_json");
    return;
  }

  // Policy: is this request cacheable at all? In test modes every request on a cacheable route
  // takes part: a test suite's recording must not depend on cache tuning.
  const bool test_mode = this->test_mode();
  if (mode_ == GatewayMode::kReplay && (c.controls.off || c.controls.no_cache)) {
    Reject(c, 400,
           std::string("deja replay: ") +
               (c.controls.off ? "X-Deja-Cache: off" : "Cache-Control: no-cache") +
               " asks for the upstream, which replay mode never calls; drop the header or record "
               "this test (--mode record)",
           "replay_needs_upstream");
    return;
  }
  bool bypass =
      c.controls.off ||
      (!test_mode && (!options_.cache.enabled || !route_enabled_[static_cast<size_t>(c.route)]));
  const std::string_view model = body->GetString("model");
  if (!bypass && !test_mode) bypass = PolicyBypassesBody(options_.cache, c.route, *body);
  if (mode_ == GatewayMode::kShadow) c.deterministic = TemperatureOf(*body) == 0;
  const bool wants_stream = [&] {
    const json::Value* s = body->Find("stream");
    return s != nullptr && s->is_bool() && s->as_bool();
  }();
  if (bypass) {
    c.normalized.stream = wants_stream;
    c.normalized.model = std::string(model);
    c.cache_header = "bypass";
    c.outcome = Outcome::kBypass;
    workers_->Submit([this, call] { RunMiss(call); });
    return;
  }

  StatusOr<NormalizedRequest> normalized =
      normalizer_->Normalize(c.route, std::move(*body), c.http.headers);
  if (!normalized.ok()) {
    if (mode_ == GatewayMode::kReplay) {
      Reject(c, 400, "deja replay: this request has no key: " + normalized.status().message(),
             "not_recorded");
      return;
    }
    // Fail open: the provider decides what it thinks of this request.
    metrics_.CountError(ErrorKind::kKey);
    c.normalized.stream = wants_stream;
    c.cache_header = "error";
    c.outcome = Outcome::kError;
    workers_->Submit([this, call] { RunMiss(call); });
    return;
  }
  c.normalized = std::move(*normalized);
  const TenantScope scope =
      options_.cache.tenant_isolation == "shared"
          ? shared_scope_
          : ScopeForCredential(deps_.secret, CredentialFromHeaders(c.http.Header("authorization"),
                                                                   c.http.Header("x-api-key")));
  c.key = ComputeKey(scope, c.controls.name_space, c.route, c.normalized);
  c.key_hex = c.key.Hex();
  c.keyed = true;
  c.scope = scope;

  if (c.controls.no_cache || mode_ == GatewayMode::kRecord) {
    c.cache_header = "refresh";
    c.outcome = Outcome::kRefresh;
  } else {
    StatusOr<Entry> entry = deps_.store->Get(c.key);
    if (mode_ == GatewayMode::kShadow) {
      // Would live mode have answered this from the cache? Either way the provider answers it.
      if (entry.ok() && FreshEnough(c, entry->meta)) {
        c.shadow_tier = ShadowTier::kExact;
        c.shadow_stored = std::move(entry->response);
      }
      c.cache_header = c.shadow_tier == ShadowTier::kNone ? "shadow-miss" : "shadow-hit";
    } else if (entry.ok()) {
      if (FreshEnough(c, entry->meta) &&
          ServeStored(c, std::move(entry->response), &entry->meta, "hit")) {
        return;
      }
      if (mode_ == GatewayMode::kReplay) {
        Reject(c, 500,
               "deja replay: the recording " + c.key_hex +
                   " cannot be served in the form this request asks for (stream or not)",
               "recording_unusable");
        return;
      }
    } else if (entry.status().code() == StatusCode::kNotFound) {
      if (mode_ == GatewayMode::kReplay) {
        // Finding the closest recording scans the store: not on an I/O thread.
        workers_->Submit([this, call] { RejectNotRecorded(*call); });
        return;
      }
    }
    if (!entry.ok() && entry.status().code() != StatusCode::kNotFound) {
      metrics_.CountError(ErrorKind::kStore);
      if (mode_ == GatewayMode::kReplay) {
        Reject(c, 500, "deja replay: the store failed: " + entry.status().ToString(),
               "store_error");
        return;
      }
      if (mode_ != GatewayMode::kShadow) {
        c.cache_header = "error";
        c.outcome = Outcome::kError;
        c.keyed = false;  // the store is failing: do not try to write to it either
      }
    }
  }
  workers_->Submit([this, call] { RunMiss(call); });
}

bool Gateway::FreshEnough(const Call& c, const EntryMeta& meta) const {
  // A recording is as good as the day it was made: test modes ignore max-age.
  return test_mode() || c.controls.max_age_s < 0 ||
         clock_->NowMillis() - meta.created_at_ms <= c.controls.max_age_s * 1000;
}

void Gateway::Reject(Call& c, int status, std::string_view message, std::string_view code) {
  Headers headers = {{"Content-Type", "application/json"}};
  c.writer->Send(status, std::move(headers), ErrorBody(c.provider, status, message, code));
  Finish(c, status, Outcome::kRejected);
}

void Gateway::Finish(Call& c, int status, Outcome outcome) {
  const int64_t latency = SteadyMicros() - c.start_us;
  metrics_.CountRequest(c.route, outcome);
  if (outcome == Outcome::kHit) {
    metrics_.ObserveHit(latency);
  } else if (outcome == Outcome::kMiss || outcome == Outcome::kRefresh) {
    metrics_.ObserveMiss(latency);
  }
  if (!access_log_.enabled()) return;
  AccessRecord r;
  r.method = c.http.method;
  r.path = c.http.path;
  r.route = RoutePath(c.route);
  r.status = status;
  r.cache = outcome == Outcome::kRejected  ? std::string_view("rejected")
            : outcome == Outcome::kProxied ? std::string_view("proxied")
            : outcome == Outcome::kHit     ? std::string_view("hit")
                                           : c.cache_header;
  if (c.keyed) r.key_prefix = std::string_view(c.key_hex).substr(0, 16);
  r.latency_us = latency;
  r.upstream_us = c.upstream_us;
  access_log_.Emit(r);
}

}  // namespace deja::server
