#include "server/url.h"

#include <charconv>

namespace deja::server {
namespace {

bool ParsePort(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

// Splits "host:port" / "[v6]:port" / "host" into its parts. `*has_port` tells whether a port was
// present.
bool SplitAuthority(std::string_view a, std::string* host, std::string_view* port, bool* has_port) {
  *has_port = false;
  if (!a.empty() && a.front() == '[') {
    size_t close = a.find(']');
    if (close == std::string_view::npos) return false;
    *host = std::string(a.substr(1, close - 1));
    std::string_view rest = a.substr(close + 1);
    if (rest.empty()) return !host->empty();
    if (rest.front() != ':') return false;
    *port = rest.substr(1);
    *has_port = true;
    return !host->empty();
  }
  size_t colon = a.rfind(':');
  if (colon != std::string_view::npos) {
    if (a.find(':') != colon) return false;  // bare IPv6 without brackets is ambiguous
    *host = std::string(a.substr(0, colon));
    *port = a.substr(colon + 1);
    *has_port = true;
  } else {
    *host = std::string(a);
  }
  return true;
}

}  // namespace

// The host as it appears in a URL or Host header: IPv6 literals in brackets. Appended piece by
// piece: GCC 12 at -O3 reports a false -Wrestrict on `"[" + host + "]"`.
static std::string BracketedHost(const std::string& host) {
  if (host.find(':') == std::string::npos) return host;
  std::string h;
  h.reserve(host.size() + 2);
  h += '[';
  h += host;
  h += ']';
  return h;
}

std::string BaseUrl::HostHeader() const {
  std::string h = BracketedHost(host);
  if (!default_port) {
    h += ':';
    h += std::to_string(port);
  }
  return h;
}

std::string BaseUrl::Origin() const {
  std::string out = tls ? "https://" : "http://";
  out += BracketedHost(host);
  out += ':';
  out += std::to_string(port);
  return out;
}

StatusOr<BaseUrl> ParseBaseUrl(std::string_view url) {
  BaseUrl out;
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    out.tls = true;
    rest = url.substr(8);
  } else {
    return InvalidArgumentError("upstream URL must start with http:// or https://: '" +
                                std::string(url) + "'");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return InvalidArgumentError("upstream base URL must not have a query or fragment: '" +
                                std::string(url) + "'");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return InvalidArgumentError("upstream base URL must not contain user info: '" +
                                std::string(url) + "'");
  }
  std::string_view port;
  bool has_port = false;
  if (!SplitAuthority(authority, &out.host, &port, &has_port) || out.host.empty()) {
    return InvalidArgumentError("bad host in upstream URL '" + std::string(url) + "'");
  }
  for (char& c : out.host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  const uint16_t default_port = out.tls ? 443 : 80;
  out.port = default_port;
  if (has_port && !ParsePort(port, &out.port)) {
    return InvalidArgumentError("bad port in upstream URL '" + std::string(url) + "'");
  }
  if (out.port == 0) {
    return InvalidArgumentError("port 0 in upstream URL '" + std::string(url) + "'");
  }
  out.default_port = out.port == default_port;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.path_prefix = std::string(path);
  return out;
}

std::string JoinTarget(std::string_view path_prefix, std::string_view target) {
  std::string out(path_prefix);
  if (target.empty() || (target.front() != '/' && target.front() != '?')) out += '/';
  out += target;
  if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

StatusOr<HostPort> ParseHostPort(std::string_view s) {
  HostPort out;
  std::string_view port;
  bool has_port = false;
  if (!SplitAuthority(s, &out.host, &port, &has_port) || !has_port || !ParsePort(port, &out.port)) {
    return InvalidArgumentError("listen address must be host:port, [ipv6]:port or :port, got '" +
                                std::string(s) + "'");
  }
  return out;
}

}  // namespace deja::server
