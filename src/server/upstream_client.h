// UpstreamClient: a blocking HTTP/1.1 client for calling LLM provider APIs (and test servers) from
// gateway worker threads, with keep-alive connection pooling, TLS, timeouts and streamed responses.
//
//   UpstreamClient client({.read_timeout_ms = 120000});
//   Status s = client.Send(
//       {.base_url = "https://api.openai.com", .method = "POST", .target = "/v1/chat/completions",
//        .headers = {{"Authorization", key}, {"Content-Type", "application/json"}}, .body = body},
//       [&](const UpstreamResponseHead& head) { return writer->StartStream(head.status, {}); },
//       [&](std::string_view chunk) { return writer->Write(chunk); });
//
// Thread safety: Send may be called concurrently from any number of threads; each call uses its own
// connection (taken from the idle pool or newly opened) and runs that connection's I/O on the
// calling thread, so callbacks run on the caller's thread. The client must outlive its calls.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "deja/status.h"
#include "server/http_types.h"

namespace deja::server {

struct UpstreamOptions {
  int connect_timeout_ms = 10000;  // DNS lookup aside: TCP connect plus TLS handshake
  int read_timeout_ms = 600000;    // between bytes while reading (also bounds sending the request)
  bool verify_tls = true;          // verify the chain and the host name
  std::string ca_file{};           // PEM bundle to trust instead of the system CA store
  int max_idle_per_host = 32;      // idle keep-alive connections kept per scheme://host:port
};

struct UpstreamRequest {
  // "https://api.openai.com" or "http://127.0.0.1:9000"; may have a path prefix ("http://h/v1"),
  // which is prepended to `target`.
  std::string base_url{};
  std::string method{};
  std::string target{};  // path + query, e.g. "/v1/chat/completions"
  // Host, Content-Length and hop-by-hop fields (Connection, Keep-Alive, Transfer-Encoding, TE,
  // Trailer, Upgrade, Proxy-*, and any named in Connection) are managed by the client and skipped.
  Headers headers{};
  std::string body{};
};

struct UpstreamResponseHead {
  int status = 0;
  // As received, minus hop-by-hop fields (the body is delivered de-chunked). Content-Length is
  // kept.
  Headers headers{};
};

class UpstreamClient {
 public:
  // TLS setup errors (e.g. an unreadable ca_file) surface from Send() of https requests; use
  // Create() to learn about them up front.
  explicit UpstreamClient(UpstreamOptions options = {});
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // Like the constructor, but fails (InvalidArgument) if the TLS configuration cannot be loaded.
  static StatusOr<std::unique_ptr<UpstreamClient>> Create(UpstreamOptions options);

  // Sends the request and streams the response: on_head once, then on_data per body chunk as it
  // arrives (de-chunked, never empty). Callbacks return false to abort (client went away).
  // Returns OK when the whole body was read; otherwise
  //   InvalidArgument   bad base_url, method, target or header text;
  //   Unavailable       DNS, connect or TLS failure ("connect to ... failed: Connection refused"),
  //                     malformed response, or the connection broke (the body is then truncated);
  //   DeadlineExceeded  connect timeout, or no bytes for read_timeout_ms;
  //   Cancelled         a callback returned false.
  // A pooled connection that fails before any response byte is retried once on a fresh one.
  Status Send(const UpstreamRequest& request,
              const std::function<bool(const UpstreamResponseHead&)>& on_head,
              const std::function<bool(std::string_view)>& on_data);

  // Idle pooled connections across all hosts (for tests and metrics).
  size_t IdleConnections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deja::server
