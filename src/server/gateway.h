// Gateway: deja's request handling behind the HTTP layer. Implements HttpHandler.
//
// For a cached route it parses and normalizes the request, computes the key, and answers a hit from
// the store on the I/O thread (microseconds, no thread hop). A miss goes to the worker pool: one
// upstream call per key (single flight), the answer streams back as it arrives and is stored once
// complete. Anything else is proxied unchanged. Every failure of the cache machinery fails open:
// the request is forwarded and the failure counted (except in replay mode, which never forwards:
// there a failure is an error answer).
//
// Test modes (server.mode): "record" sends every request upstream and stores the answer, "replay"
// answers only from recordings and never calls upstream (a request that was not recorded gets 404
// `not_recorded` naming the closest recording and how it differs), "record-missing" replays what
// is recorded and records the rest. In test modes every request on a cacheable route takes part,
// whatever cache.enabled, cache.routes, cache.models and cache_nonzero_temperature say, recordings
// never go stale (max-age is ignored), and answers are stored before the client's response ends.
//
// Shadow mode (server.mode "shadow") serves nothing from the cache: every request goes upstream
// and the client gets the provider's answer. Alongside, the gateway works out what live mode would
// have done (the same cache policy applies), compares each would-be hit's stored answer with the
// fresh one and tallies a ShadowReport (GET /deja/shadow). It stores answers as live mode would (a
// would-be hit leaves its entry as it is), so the report reflects a cache warming up on this
// traffic.
// Semantic tier (options.semantic.enabled with GatewayDeps::semantic; live and shadow mode only,
// never in test modes or with a cassette): a request without an exact hit is looked up by meaning
// on its worker thread, before single flight (gateway_semantic.cc). A match in the same context
// partition that passes the guards (or fills a template) is served with X-Deja-Cache:
// semantic-hit, unless the vCache policy chooses to verify it: then the request goes upstream
// (X-Deja-Cache: semantic-verify), the fresh answer is compared with the cached one and the
// entry's evidence updated. Answers stored after a semantic-eligible miss are offered to the index
// (quality filter, admission score). Embedder or index failures fail open to an exact-only miss.
// With a cassette (GatewayDeps::cassette) keys use the fixed cassette secret and the shared tenant
// scope, so recordings do not depend on the machine or the API key.
// The index follows the store: with GatewayDeps::removals (the relay the store was opened with)
// the gateway listens while the semantic tier is on, and entries the store deletes, purges,
// expires or evicts leave the index at once (OnRemoved; counted by cause). Removals it does not
// hear (another process's, or with no relay) are still caught lazily, at lookup.
//
// Thread safety: Handle may be called concurrently from any number of I/O threads.
// Ownership: the Gateway borrows the store and the upstream client; both must outlive it.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/key.h"
#include "core/normalize.h"
#include "deja/clock.h"
#include "deja/gateway_options.h"
#include "deja/store.h"
#include "server/access_log.h"
#include "server/answer_compare.h"
#include "server/cassette_store.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "server/request_controls.h"
#include "server/semantic_metrics.h"
#include "server/shadow_report.h"
#include "server/single_flight.h"
#include "server/upstream_client.h"
#include "server/worker_pool.h"

namespace deja::semantic {
class SemanticCache;
}

namespace deja::server {

enum class GatewayMode { kLive, kRecord, kReplay, kRecordMissing, kShadow };
// "live", "record", "replay", "record-missing", "shadow"; InvalidArgument otherwise.
StatusOr<GatewayMode> ParseGatewayMode(std::string_view name);

// The cache policy's verdict on a request body (live and shadow mode; `deja analyze`): true when
// the request must bypass the cache because its model is not in cache.models, or its temperature
// is above 0 (or unset) while cache_nonzero_temperature is false. cache.enabled and cache.routes
// are the caller's to check.
bool PolicyBypassesBody(const CachePolicyOptions& cache, Route route, const json::Value& body);

// The request's sampling temperature; 1 (the providers' default) when unset or not a number.
double TemperatureOf(const json::Value& body);

// The normalizer settings of the cache policy (the gateway and `deja analyze` normalize alike).
NormalizeOptions NormalizeOptionsFor(const CachePolicyOptions& cache);

// The credential whose scope every caller shares under cache.tenant_isolation = "shared".
inline constexpr std::string_view kSharedScopeCredential = "deja shared scope";

struct GatewayDeps {
  Store* store = nullptr;  // required unless `cassette` is set
  // Optional: the store is this cassette (then `store` may be null, and `secret` is ignored: keys
  // use CassetteSecret() and the shared scope). Records also keep their keyed headers.
  CassetteStore* cassette = nullptr;
  UpstreamClient* upstream = nullptr;  // required
  const Clock* clock = nullptr;        // nullptr: SystemClock()
  DeploymentSecret secret{};
  int access_log_fd = 2;
  // The semantic tier (borrowed; must outlive the gateway). Used when options.semantic.enabled.
  semantic::SemanticCache* semantic = nullptr;
  // Optional: the relay the store was opened with (StoreOptions::removal_listener). With the
  // semantic tier on, Create attaches the gateway and ~Gateway detaches it. Must outlive the
  // gateway.
  StoreRemovalRelay* removals = nullptr;
};

class Gateway : public HttpHandler, public StoreRemovalListener {
 public:
  static StatusOr<std::unique_ptr<Gateway>> Create(const GatewayOptions& options, GatewayDeps deps);
  ~Gateway() override;

  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override;
  // gateway_semantic.cc: drops entries the store removed from the semantic index (StoreRemovalRelay
  // calls it once attached; see GatewayDeps::removals).
  void OnRemoved(std::span<const CacheKey> keys, RemovalCause cause) override;

  Metrics& metrics() { return metrics_; }
  GatewayMode mode() const { return mode_; }
  // record, replay or record-missing: every request on a cached route takes part, max-age ignored.
  bool test_mode() const { return mode_ != GatewayMode::kLive && mode_ != GatewayMode::kShadow; }
  // Shadow mode's report (shadow_report.h); null when the mode is not shadow.
  const ShadowReport* shadow_report() const { return shadow_.get(); }
  // The semantic tier in use (null when off) and its counters.
  semantic::SemanticCache* semantic() const { return semantic_; }
  const SemanticMetrics& semantic_metrics() const { return semantic_metrics_; }
  // Waits for queued upstream work to finish (used on shutdown after the server drained).
  void Drain();
  // Blocks until no background work (misses, stores, proxying) is queued or running. For tests.
  void WaitIdle() { workers_->WaitIdle(); }

  // Per-request state shared by the hit, miss and proxy paths (gateway_*.cc).
  struct Call;

 private:
  Gateway(const GatewayOptions& options, GatewayDeps deps, std::unique_ptr<Normalizer> normalizer);

  void HandleCached(std::shared_ptr<Call> call);
  // Whether a stored entry satisfies the request's Cache-Control max-age.
  bool FreshEnough(const Call& call, const EntryMeta& meta) const;
  void HandleAdmin(const HttpRequest& request, ResponseWriter& writer, int64_t start_us);
  // gateway_serve.cc: answers from a stored response in the form the request asked for. Returns
  // false (after counting) when the stored answer cannot be converted; the caller then treats it as
  // a miss.
  bool ServeStored(Call& call, CachedResponse response, const EntryMeta* meta,
                   std::string_view outcome_header, Headers extra_headers = {});
  // gateway_miss.cc
  void RunMiss(std::shared_ptr<Call> call);
  bool Follow(Call& call, Flight& flight);
  // Returns the answer when it is complete and cacheable (for the caller's single flight).
  // Forwards upstream (ForwardUpstream), then tells shadow mode and a pending semantic verification
  // what came back (nullptr: no complete answer).
  std::optional<CachedResponse> Forward(Call& call, Flight* flight);
  std::optional<CachedResponse> ForwardUpstream(Call& call, Flight* flight);
  void Proxy(std::shared_ptr<Call> call);
  void StoreAnswer(Call& call, const CachedResponse& response);
  void Finish(Call& call, int status, Outcome outcome);
  void Reject(Call& call, int status, std::string_view message, std::string_view code = {});
  // gateway_replay.cc: 404 `not_recorded` with the closest recording and its differences.
  void RejectNotRecorded(Call& call);
  // Stores through the cassette (keeping keyed headers) when there is one.
  Status PutEntry(const Call& call, const Entry& entry);
  // gateway_shadow.cc: tallies a shadow-mode request; `fresh` is the provider's complete answer
  // (null when there is none: an error, a broken stream, a request without a key).
  void RecordShadow(const Call& call, const CachedResponse* fresh);
  // gateway_semantic.cc: looks the request up by meaning. True when it was answered (a semantic
  // hit); otherwise it may have set up a verification (c.semantic_verify) or a shadow would-be hit.
  bool TrySemantic(Call& c);
  // After a forwarded answer: the verification of an explored would-be hit (fresh may be null).
  void VerifySemantic(Call& c, const CachedResponse* fresh);
  // The semantic index's admission of this request's stored answer (quality, score, duplicates).
  // `answers_differently`: a match verified wrong for it, not counted as a near-duplicate.
  void AdmitAnswer(Call& c, const CachedResponse& response, double cost,
                   const CacheKey* answers_differently = nullptr);
  // After a stored answer: offers it to the semantic index.
  void AdmitSemantic(Call& c, const Entry& stored);
  SemanticGauges semantic_gauges() const;

  const GatewayOptions options_;
  GatewayDeps deps_;
  GatewayMode mode_ = GatewayMode::kLive;
  const Clock* clock_;
  std::unique_ptr<Normalizer> normalizer_;
  Metrics metrics_;
  AccessLog access_log_;
  SingleFlight flights_;
  std::unique_ptr<WorkerPool> workers_;
  TenantScope shared_scope_;
  std::unique_ptr<ShadowReport> shadow_;         // shadow mode only
  semantic::SemanticCache* semantic_ = nullptr;  // null: the semantic tier is off
  SemanticMetrics semantic_metrics_;
  AnswerMatch verify_match_ = AnswerMatch::kStructured;  // options.semantic.verify, parsed once
  bool route_enabled_[6] = {};
};

}  // namespace deja::server
