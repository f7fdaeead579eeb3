// Test fixture pieces for the gateway: a deterministic fake provider (a C++ HttpHandler behind a
// real HttpServer), a store that always fails (for fail-open tests), a client built on
// UpstreamClient, and GatewayFixture, which runs them all in one process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include "core/json.h"

#include <functional>
#include "deja/store.h"
#include "semantic/semantic_cache.h"
#include "server/cassette_store.h"
#include "server/gateway.h"
#include "server/http_server.h"
#include "server/upstream_client.h"

namespace deja::server::testing {

// Answers chat completions and Anthropic messages like the providers do. The model name selects
// behaviour: "gated" holds the answer until Release(); "error" answers 500; "truncate" streams
// without finishing and drops the connection; "varying" words each answer differently;
// "constant" gives the same answer to every question (set_constant_answer changes it).
class FakeProvider : public HttpHandler {
 public:
  ~FakeProvider() override;
  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override;

  int calls() const { return calls_.load(); }
  void set_constant_answer(const std::string& text) {
    std::lock_guard lock(mu_);
    constant_answer_ = text;
  }
  Headers last_headers() const;
  std::string last_body() const;
  // Blocks until `n` requests are being held by the gate (bounded; false on timeout).
  bool WaitGated(int n);
  void Release();

 private:
  void Answer(const HttpRequest& request, ResponseWriter& writer, const std::string& model);

  std::atomic<int> calls_{0};
  std::atomic<int> serial_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Headers last_headers_;
  std::string last_body_;
  std::string constant_answer_ = "the constant answer";
  int gated_ = 0;
  bool released_ = false;
  std::vector<std::thread> threads_;
};

class FailingStore : public Store {
 public:
  StatusOr<Entry> Get(const CacheKey&) override { return UnavailableError("disk on fire"); }
  StatusOr<Entry> Peek(const CacheKey&) override { return UnavailableError("disk on fire"); }
  Status Put(const Entry&) override { return UnavailableError("disk on fire"); }
  Status Delete(const CacheKey&) override { return UnavailableError("disk on fire"); }
  Status Scan(const ScanOptions&, const std::function<bool(const Entry&)>&) override {
    return UnavailableError("disk on fire");
  }
  StatusOr<int64_t> Purge(const ScanOptions&) override { return UnavailableError("disk on fire"); }
  StatusOr<int64_t> SweepExpired() override { return UnavailableError("disk on fire"); }
  Status FlushHits() override { return UnavailableError("disk on fire"); }
  StatusOr<StoreStats> Stats() override { return UnavailableError("disk on fire"); }
};

struct ClientResponse {
  Status status;
  int code = 0;
  Headers headers;
  std::string body;
  std::string Header(std::string_view name) const { return std::string(FindHeader(headers, name)); }
};

ClientResponse Call(UpstreamClient& client, int port, const std::string& method,
                    const std::string& path, const std::string& body, Headers headers = {});

// The gateway end to end in one process: a real HttpServer in front of the Gateway, a real LMDB
// store (or a cassette), the real UpstreamClient as both deja's upstream client and the test's
// client, and a FakeProvider behind a second HttpServer.
class GatewayFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts the gateway in front of the fake provider. With options.cassette.path set, a
  // CassetteStore over that file is the store (`store_override` is then ignored).
  void Start(GatewayOptions options = {}, Store* store_override = nullptr);
  // Stops the gateway and closes its store; the fake provider keeps running, so a test can Start
  // again (e.g. record, then replay the same cassette).
  void Stop();

  // Waits for the gateway's background work (the store write after a miss) before returning, so
  // the next request sees a settled store.
  ClientResponse Post(const std::string& path, const std::string& body, Headers headers = {});
  ClientResponse Chat(const std::string& body, Headers headers = {});
  ClientResponse Chat();

  // A fresh path in the test's temporary directory.
  std::string TempPath(const std::string& name) const { return dir_ + "_" + name; }

  std::string dir_;
  FakeClock clock_;
  FakeProvider provider_;
  std::unique_ptr<HttpServer> provider_server_;
  UpstreamClient upstream_;
  UpstreamClient client_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<CassetteStore> cassette_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpServer> server_;
  std::vector<std::string> temp_files_;
  // Optional: builds the semantic tier over the freshly opened store on each Start (with
  // options.semantic.enabled); the fixture keeps it until Stop.
  std::function<std::unique_ptr<semantic::SemanticCache>(const GatewayOptions&, Store&)>
      semantic_factory_;
  std::unique_ptr<semantic::SemanticCache> semantic_;
  // As in `deja serve`, the LMDB store reports removals through this relay to the gateway, so the
  // semantic index follows the store at once. false before Start: the store is opened without it
  // (the index then learns of removals only at lookup).
  bool follow_removals_ = true;
  std::shared_ptr<StoreRemovalRelay> removals_;
};

inline constexpr char kChat[] =
    R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";
inline constexpr char kChatStream[] =
    R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"stream":true})";

}  // namespace deja::server::testing
