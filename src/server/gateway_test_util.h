// Test fixture pieces for the gateway: a deterministic fake provider (a C++ HttpHandler behind a
// real HttpServer), a store that always fails (for fail-open tests), and a client built on
// UpstreamClient.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "deja/store.h"
#include "server/http_server.h"
#include "server/upstream_client.h"

namespace deja::server::testing {

// Answers chat completions and Anthropic messages like the providers do. The model name selects
// behaviour: "gated" holds the answer until Release(); "error" answers 500; "truncate" streams
// without finishing and drops the connection.
class FakeProvider : public HttpHandler {
 public:
  ~FakeProvider() override;
  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override;

  int calls() const { return calls_.load(); }
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

}  // namespace deja::server::testing
