// Plain value types shared by deja's HTTP server and upstream client, and the two interfaces
// through which the HTTP layer reaches the rest of deja (HttpHandler in, ResponseWriter out).
//
// This header deliberately includes no Boost: the gateway and tests include it without paying for
// Beast/Asio compile times.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deja::server {

// Header fields in wire order; names keep the case they were received (or given) with. Repeated
// fields stay separate entries.
using Headers = std::vector<std::pair<std::string, std::string>>;

// ASCII case-insensitive comparison of header names.
bool HeaderNameEquals(std::string_view a, std::string_view b);

// Value of the first field named `name` (case-insensitive), or "" if absent.
std::string_view FindHeader(const Headers& headers, std::string_view name);

// One parsed request, owned by value by whoever handles it.
struct HttpRequest {
  std::string method{};  // "POST"
  std::string target{};  // path + query as received
  std::string path{};    // target without the query
  Headers headers{};
  std::string body{};
  std::string remote_addr{};  // "ip:port" of the peer ("[v6]:port" for IPv6)

  // Case-insensitive; "" if absent.
  std::string_view Header(std::string_view name) const { return FindHeader(headers, name); }
};

// One per request. Thread-safe: may be called from any thread (the gateway answers misses from a
// worker thread). Exactly one of Send() or StartStream()...Finish() is used; calls after the
// response is complete are ignored.
//
// The server manages framing and connection headers itself: Content-Length, Transfer-Encoding,
// Connection and Keep-Alive given by the caller are dropped, as are fields containing CR, LF or
// NUL. Dropping the writer without responding sends a 500; dropping it mid-stream closes the
// connection so the client sees a truncated (not a complete) response.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void Send(int status, Headers headers, std::string body) = 0;
  // Chunked transfer; returns false if the client is gone (then the caller should stop).
  virtual bool StartStream(int status, Headers headers) = 0;
  virtual bool Write(std::string_view chunk) = 0;
  virtual void Finish() = 0;
  virtual bool ClientGone() const = 0;
};

// The HTTP layer reaches deja only through this interface (tests use a stub).
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called on a server I/O thread. MUST NOT block for long: answer at once (e.g. a cache hit), or
  // hand the work (with the shared_ptr writer) to another thread, e.g. a miss that calls upstream.
  virtual void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) = 0;
};

}  // namespace deja::server
