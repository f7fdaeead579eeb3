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
// With a cassette (GatewayDeps::cassette) keys use the fixed cassette secret and the shared tenant
// scope, so recordings do not depend on the machine or the API key.
//
// Thread safety: Handle may be called concurrently from any number of I/O threads.
// Ownership: the Gateway borrows the store and the upstream client; both must outlive it.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "core/key.h"
#include "core/normalize.h"
#include "deja/clock.h"
#include "deja/gateway_options.h"
#include "deja/store.h"
#include "server/access_log.h"
#include "server/cassette_store.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "server/request_controls.h"
#include "server/single_flight.h"
#include "server/upstream_client.h"
#include "server/worker_pool.h"

namespace deja::server {

enum class GatewayMode { kLive, kRecord, kReplay, kRecordMissing };
// "live", "record", "replay", "record-missing"; InvalidArgument otherwise.
StatusOr<GatewayMode> ParseGatewayMode(std::string_view name);

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
};

class Gateway : public HttpHandler {
 public:
  static StatusOr<std::unique_ptr<Gateway>> Create(const GatewayOptions& options, GatewayDeps deps);
  ~Gateway() override;

  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override;

  Metrics& metrics() { return metrics_; }
  GatewayMode mode() const { return mode_; }
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
                   std::string_view outcome_header);
  // gateway_miss.cc
  void RunMiss(std::shared_ptr<Call> call);
  bool Follow(Call& call, Flight& flight);
  // Returns the answer when it is complete and cacheable (for the caller's single flight).
  std::optional<CachedResponse> Forward(Call& call, Flight* flight);
  void Proxy(std::shared_ptr<Call> call);
  void StoreAnswer(Call& call, const CachedResponse& response);
  void Finish(Call& call, int status, Outcome outcome);
  void Reject(Call& call, int status, std::string_view message, std::string_view code = {});
  // gateway_replay.cc: 404 `not_recorded` with the closest recording and its differences.
  void RejectNotRecorded(Call& call);
  // Stores through the cassette (keeping keyed headers) when there is one.
  Status PutEntry(const Call& call, const Entry& entry);

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
  bool route_enabled_[6] = {};
};

}  // namespace deja::server
