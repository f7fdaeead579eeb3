// Parsing of the two address forms the HTTP layer accepts: upstream base URLs
// ("https://api.openai.com", "http://127.0.0.1:9000/prefix") and listen addresses
// ("127.0.0.1:8080",
// "[::1]:0", ":8080"). Pure functions, no I/O; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "deja/status.h"

namespace deja::server {

struct BaseUrl {
  bool tls = false;          // https
  std::string host;          // without IPv6 brackets, lower-cased
  uint16_t port = 0;         // explicit or the scheme default
  bool default_port = true;  // port was omitted or equals the scheme default
  std::string path_prefix;   // "" or "/v1" (never a trailing '/')

  // Value for the Host header: "host" or "host:port", brackets around IPv6 literals.
  std::string HostHeader() const;
  // Pool key: "https://host:port".
  std::string Origin() const;
};

// Accepts http:// and https:// URLs with an optional port and path prefix; rejects user info, query
// and fragment (they have no meaning for a base URL and would hide mistakes).
StatusOr<BaseUrl> ParseBaseUrl(std::string_view url);

// path_prefix + target, with exactly one '/' between them. `target` should start with '/'.
std::string JoinTarget(std::string_view path_prefix, std::string_view target);

struct HostPort {
  std::string host;  // without brackets; "" means all interfaces
  uint16_t port = 0;
};

// "host:port", "[v6]:port" or ":port". The port is required (0 means "pick a free one").
StatusOr<HostPort> ParseHostPort(std::string_view s);

}  // namespace deja::server
