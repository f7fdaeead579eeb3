// HttpServer: deja's HTTP/1.1 front end. Accepts connections, parses requests (with size limits and
// timeouts), hands each to an HttpHandler and writes the handler's response, buffered or chunked.
//
//   auto server = HttpServer::Start({.listen = "127.0.0.1:0"}, &handler);
//   if (!server.ok()) return server.status();
//   int port = (*server)->port();
//   ...
//   (*server)->Stop(/*drain_timeout_ms=*/5000);
//
// Threading: io_threads threads run one Asio io_context; every connection is bound to its own
// strand, so a connection's reads, writes and its handler call never run concurrently. Requests on
// a connection are handled one at a time, so responses on a keep-alive (or pipelined) connection
// are always in request order. ResponseWriter calls from other threads are posted to that strand.
//
// Timeouts: idle_timeout_ms bounds the wait for the first byte of a request on a kept-alive
// connection; request_timeout_ms bounds reading one whole request and each write of its response (a
// client that stops reading for that long is dropped). The handler's own time is not bounded here.
//
// Ownership and thread safety: Start, port, Stop and Wait may be called from any thread except a
// server I/O thread (Stop joins them). The handler must outlive the server and is called
// concurrently from all I/O threads (one request at a time per connection). Writers still held
// after the server is stopped or destroyed are safe to call; they report the client as gone.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "deja/status.h"
#include "server/http_types.h"

namespace deja::server {

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free port
  int io_threads = 0;                     // 0 = hardware concurrency
  size_t max_body_bytes = 32 << 20;       // larger bodies get 413
  size_t max_header_bytes = 64 << 10;     // larger request line + headers get 431
  int max_connections = 1024;             // more are answered 503 and closed
  int idle_timeout_ms = 60000;
  int request_timeout_ms = 300000;
};

class HttpServer {
 public:
  // Binds and starts serving. Errors: InvalidArgument for a bad `listen`, Unavailable if the
  // address cannot be bound.
  static StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                     HttpHandler* handler);

  ~HttpServer();  // Stop(0) if not stopped yet.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the real one when `listen` asked for port 0).
  int port() const;

  // Stops accepting, closes idle connections, lets in-flight requests finish for up to
  // drain_timeout_ms, then closes whatever is left and joins the I/O threads. Idempotent;
  // concurrent callers all return once the server is stopped.
  void Stop(int drain_timeout_ms);

  // Blocks until Stop() has completed.
  void Wait();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deja::server
