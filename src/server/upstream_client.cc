#include "server/upstream_client.h"

#include <poll.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "server/url.h"

namespace deja::server {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kBodyBuffer = 64 << 10;
constexpr uint32_t kMaxResponseHeader = 256 << 10;
// Servers commonly drop idle keep-alive connections after 60 s or more; retiring ours a little
// earlier avoids most stale-connection retries.
constexpr auto kMaxIdle = std::chrono::seconds(50);

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && HeaderNameEquals(s.substr(0, prefix.size()), prefix);
}

bool IsHopByHop(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection", "keep-alive", "transfer-encoding",
                                                "te",         "trailer",    "upgrade"};
  for (std::string_view n : kNames) {
    if (HeaderNameEquals(name, n)) return true;
  }
  return StartsWithNoCase(name, "proxy-");
}

// Whether `name` is listed in a Connection header value ("Connection: close, X-Foo").
bool ListedIn(std::string_view connection_value, std::string_view name) {
  while (!connection_value.empty()) {
    size_t comma = connection_value.find(',');
    std::string_view token = connection_value.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (HeaderNameEquals(token, name)) return true;
    if (comma == std::string_view::npos) break;
    connection_value.remove_prefix(comma + 1);
  }
  return false;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) !=
            std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsFieldValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == s.npos;
}

// One upstream connection with its own single-threaded io_context: the calling thread runs it while
// it owns the connection, which gives the blocking API real timeouts (Beast's per-operation
// expiry). Owned by exactly one Send() call at a time, or by the idle pool.
struct Conn {
  net::io_context ioc{1};  // First: destroyed after the streams bound to it.
  std::optional<beast::tcp_stream> tcp;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  Clock::time_point idle_since;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *tcp; }

  // Runs an async operation to completion on the calling thread.
  template <class Op>
  beast::error_code Run(Op&& op, size_t* bytes = nullptr) {
    beast::error_code result;
    op([&](beast::error_code ec, size_t n = 0) {
      result = ec;
      if (bytes) *bytes = n;
    });
    ioc.restart();
    ioc.run();
    return result;
  }

  // Calls f with whichever stream this connection uses.
  template <class F>
  auto With(F&& f) {
    if (tls) return f(*tls);
    return f(*tcp);
  }

  // An idle connection is usable only if the server has not closed it (or sent anything) meanwhile.
  bool LooksAlive() {
    pollfd p{lowest().socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }
};

Headers ResponseHeaders(const http::response_parser<http::buffer_body>::value_type& msg) {
  Headers out;
  out.reserve(16);
  const auto conn_field = msg[http::field::connection];
  const std::string_view connection(conn_field.data(), conn_field.size());
  for (const auto& f : msg) {
    const std::string_view name(f.name_string().data(), f.name_string().size());
    if (IsHopByHop(name) || ListedIn(connection, name)) continue;
    out.emplace_back(std::string(name), std::string(f.value()));
  }
  return out;
}

struct Outcome {
  Status status;
  bool stale = false;     // Failed before any response byte: safe to retry on a fresh connection.
  bool reusable = false;  // Response complete and the connection may be kept alive.
};

}  // namespace

struct UpstreamClient::Impl {
  explicit Impl(UpstreamOptions o) : options(std::move(o)), ctx(ssl::context::tls_client) {}

  // Loads the trust store on first use: parsing the system CA bundle takes tens of milliseconds,
  // which clients that only talk plain HTTP (local upstreams, tests) should not pay.
  const Status& EnsureTls() {
    std::call_once(tls_once, [this] {
      beast::error_code ec;
      SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
      if (!options.verify_tls) {
        ctx.set_verify_mode(ssl::verify_none, ec);
        return;
      }
      ctx.set_verify_mode(ssl::verify_peer, ec);
      if (!options.ca_file.empty()) {
        ctx.load_verify_file(options.ca_file, ec);
        if (ec) {
          tls_status = InvalidArgumentError("cannot load CA file '" + options.ca_file +
                                            "': " + ec.message());
        }
      } else {
        ctx.set_default_verify_paths(ec);
        if (ec) tls_status = InvalidArgumentError("cannot load system CA store: " + ec.message());
      }
    });
    return tls_status;
  }

  StatusOr<std::unique_ptr<Conn>> Connect(const BaseUrl& url) {
    auto conn = std::make_unique<Conn>();
    const std::string where = url.HostHeader();
    const auto timeout = std::chrono::milliseconds(options.connect_timeout_ms);
    beast::error_code ec;
    std::vector<tcp::endpoint> endpoints;
    auto addr = net::ip::make_address(url.host, ec);
    const bool is_ip = !ec;
    if (is_ip) {
      endpoints.emplace_back(addr, url.port);
    } else {
      // Synchronous lookup: an async resolve would start a resolver thread per io_context.
      tcp::resolver resolver(conn->ioc);
      auto results = resolver.resolve(url.host, std::to_string(url.port), ec);
      if (ec)
        return UnavailableError("cannot resolve upstream host " + url.host + ": " + ec.message());
      for (const auto& r : results) endpoints.push_back(r.endpoint());
    }

    if (url.tls) {
      if (!EnsureTls().ok()) return tls_status;
      conn->tls.emplace(conn->ioc, ctx);
    } else {
      conn->tcp.emplace(conn->ioc);
    }
    const auto deadline = Clock::now() + timeout;
    beast::tcp_stream& ls = conn->lowest();
    ls.expires_at(deadline);
    ec = conn->Run([&](auto handler) {
      ls.async_connect(endpoints, [h = std::move(handler)](beast::error_code e,
                                                           const tcp::endpoint&) mutable { h(e); });
    });
    if (ec == beast::error::timeout) {
      return DeadlineExceededError("connect to upstream " + where + " timed out after " +
                                   std::to_string(options.connect_timeout_ms) + " ms");
    }
    if (ec) return UnavailableError("connect to upstream " + where + " failed: " + ec.message());
    ls.socket().set_option(tcp::no_delay(true), ec);

    if (url.tls) {
      SSL* ssl = conn->tls->native_handle();
      // SNI must be a host name, never an IP literal (RFC 6066).
      if (!is_ip) SSL_set_tlsext_host_name(ssl, url.host.c_str());
      if (options.verify_tls) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str())
                       : X509_VERIFY_PARAM_set1_host(param, url.host.c_str(), url.host.size());
        if (ok != 1) return InternalError("cannot set TLS verification name " + url.host);
      }
      ls.expires_at(deadline);
      ec = conn->Run([&](auto handler) {
        conn->tls->async_handshake(ssl::stream_base::client, std::move(handler));
      });
      if (ec == beast::error::timeout || (ec && Clock::now() >= deadline)) {
        return DeadlineExceededError("TLS handshake with upstream " + where + " timed out after " +
                                     std::to_string(options.connect_timeout_ms) + " ms");
      }
      if (ec) {
        std::string msg = "TLS handshake with upstream " + where + " failed: " + ec.message();
        long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) {
          msg += std::string(" (certificate verification: ") +
                 X509_verify_cert_error_string(verify) + ")";
        }
        return UnavailableError(msg);
      }
    }
    return conn;
  }

  std::unique_ptr<Conn> TakeIdle(const std::string& origin) {
    std::vector<std::unique_ptr<Conn>> discard;  // Closed outside the lock.
    std::unique_ptr<Conn> found;
    {
      std::lock_guard lock(mu);
      auto it = idle.find(origin);
      if (it == idle.end()) return nullptr;
      auto& list = it->second;
      const auto now = Clock::now();
      while (!list.empty() && !found) {
        std::unique_ptr<Conn> c = std::move(list.back());
        list.pop_back();
        if (now - c->idle_since < kMaxIdle && c->LooksAlive()) {
          found = std::move(c);
        } else {
          discard.push_back(std::move(c));
        }
      }
    }
    return found;
  }

  void ReturnIdle(const std::string& origin, std::unique_ptr<Conn> conn) {
    conn->idle_since = Clock::now();
    std::lock_guard lock(mu);
    auto& list = idle[origin];
    if (static_cast<int>(list.size()) < options.max_idle_per_host) {
      list.push_back(std::move(conn));
    }
  }

  Outcome Exchange(Conn& conn, const BaseUrl& url, const std::string& head,
                   const UpstreamRequest& req,
                   const std::function<bool(const UpstreamResponseHead&)>& on_head,
                   const std::function<bool(std::string_view)>& on_data);

  const UpstreamOptions options;
  ssl::context ctx;
  std::once_flag tls_once;
  Status tls_status;  // Written once under tls_once.

  mutable std::mutex mu;  // Guards `idle`.
  std::unordered_map<std::string, std::vector<std::unique_ptr<Conn>>> idle;
};

Outcome UpstreamClient::Impl::Exchange(
    Conn& conn, const BaseUrl& url, const std::string& head, const UpstreamRequest& req,
    const std::function<bool(const UpstreamResponseHead&)>& on_head,
    const std::function<bool(std::string_view)>& on_data) {
  const std::string where = url.HostHeader();
  const auto timeout = std::chrono::milliseconds(options.read_timeout_ms);
  beast::tcp_stream& ls = conn.lowest();
  auto timed_out = [&](beast::error_code ec, Clock::time_point deadline) {
    return ec == beast::error::timeout || (ec && Clock::now() >= deadline);
  };

  // Send head and body in one gather write; the body is not copied.
  auto deadline = Clock::now() + timeout;
  ls.expires_at(deadline);
  std::array<net::const_buffer, 2> out{net::buffer(head), net::buffer(req.body)};
  beast::error_code ec = conn.Run([&](auto handler) {
    conn.With([&](auto& stream) { net::async_write(stream, out, std::move(handler)); });
  });
  if (timed_out(ec, deadline)) {
    return {DeadlineExceededError("sending request to upstream " + where + " timed out"), false,
            false};
  }
  if (ec) {
    return {UnavailableError("sending request to upstream " + where + " failed: " + ec.message()),
            true, false};
  }

  // Response head; interim 1xx responses (e.g. an unsolicited 100 Continue) are skipped.
  std::optional<http::response_parser<http::buffer_body>> parser;
  for (;;) {
    parser.emplace();
    parser->header_limit(kMaxResponseHeader);
    // Streamed through, never held, so no limit. Not boost::none: Boost 1.74 then rejects every
    // Content-Length ("len_ > body_limit_" compares against an empty optional).
    parser->body_limit(std::numeric_limits<uint64_t>::max());
    if (req.method == "HEAD") parser->skip(true);
    deadline = Clock::now() + timeout;
    ls.expires_at(deadline);
    ec = conn.Run([&](auto handler) {
      conn.With([&](auto& stream) {
        http::async_read_header(stream, conn.buffer, *parser, std::move(handler));
      });
    });
    if (timed_out(ec, deadline)) {
      return {DeadlineExceededError("no response from upstream " + where + " within " +
                                    std::to_string(options.read_timeout_ms) + " ms"),
              false, false};
    }
    if (ec) {
      // Retryable only if the server closed without sending a byte (a malformed answer is not).
      const bool nothing = !parser->got_some() && conn.buffer.size() == 0;
      const bool closed =
          ec == http::error::end_of_stream ||
          ec.category() != http::make_error_code(http::error::bad_version).category();
      return {
          UnavailableError("reading response from upstream " + where + " failed: " + ec.message()),
          nothing && closed, false};
    }
    int status = parser->get().result_int();
    if (status >= 200 || status == 101) break;
  }

  UpstreamResponseHead response_head;
  response_head.status = parser->get().result_int();
  response_head.headers = ResponseHeaders(parser->get());
  if (!on_head(response_head))
    return {CancelledError("response aborted by the caller"), false, false};

  std::vector<char> buf(kBodyBuffer);
  uint64_t received = 0;
  while (!parser->is_done()) {
    parser->get().body().data = buf.data();
    parser->get().body().size = buf.size();
    deadline = Clock::now() + timeout;
    ls.expires_at(deadline);
    // read_some, not read: return as soon as some body arrives so SSE events are relayed promptly.
    ec = conn.Run([&](auto handler) {
      conn.With([&](auto& stream) {
        http::async_read_some(stream, conn.buffer, *parser, std::move(handler));
      });
    });
    if (ec == http::error::need_buffer) ec = {};
    size_t n = buf.size() - parser->get().body().size;
    received += n;
    if (n > 0 && !on_data(std::string_view(buf.data(), n))) {
      return {CancelledError("response aborted by the caller"), false, false};
    }
    if (timed_out(ec, deadline)) {
      return {DeadlineExceededError("upstream " + where + " sent no data for " +
                                    std::to_string(options.read_timeout_ms) + " ms (after " +
                                    std::to_string(received) + " body bytes)"),
              false, false};
    }
    if (ec) {
      return {UnavailableError("upstream " + where + " response truncated after " +
                               std::to_string(received) + " body bytes: " + ec.message()),
              false, false};
    }
  }
  return {Status::Ok(), false, parser->keep_alive() && conn.buffer.size() == 0};
}

UpstreamClient::UpstreamClient(UpstreamOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

UpstreamClient::~UpstreamClient() = default;

StatusOr<std::unique_ptr<UpstreamClient>> UpstreamClient::Create(UpstreamOptions options) {
  auto client = std::make_unique<UpstreamClient>(std::move(options));
  if (!client->impl_->EnsureTls().ok()) return client->impl_->tls_status;
  return client;
}

size_t UpstreamClient::IdleConnections() const {
  std::lock_guard lock(impl_->mu);
  size_t n = 0;
  for (const auto& [origin, list] : impl_->idle) n += list.size();
  return n;
}

Status UpstreamClient::Send(const UpstreamRequest& req,
                            const std::function<bool(const UpstreamResponseHead&)>& on_head,
                            const std::function<bool(std::string_view)>& on_data) {
  auto url = ParseBaseUrl(req.base_url);
  if (!url.ok()) return url.status();
  if (!IsToken(req.method)) return InvalidArgumentError("bad HTTP method '" + req.method + "'");
  const std::string target = JoinTarget(url->path_prefix, req.target);
  if (target.find_first_of(std::string_view(" \r\n\0", 4)) != std::string::npos) {
    return InvalidArgumentError("bad request target '" + target + "'");
  }

  std::string head;
  head.reserve(256 + req.headers.size() * 64);
  head += req.method;
  head += ' ';
  head += target;
  head += " HTTP/1.1\r\nHost: ";
  head += url->HostHeader();
  head += "\r\n";
  const std::string_view connection = FindHeader(req.headers, "connection");
  for (const auto& [name, value] : req.headers) {
    if (!IsToken(name) || !IsFieldValue(value)) {
      return InvalidArgumentError("bad request header '" + name + "'");
    }
    if (HeaderNameEquals(name, "host") || HeaderNameEquals(name, "content-length") ||
        IsHopByHop(name) || ListedIn(connection, name)) {
      continue;
    }
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    head += "Content-Length: ";
    head += std::to_string(req.body.size());
    head += "\r\n";
  }
  if (impl_->options.max_idle_per_host <= 0) head += "Connection: close\r\n";
  head += "\r\n";

  const std::string origin = url->Origin();
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Conn> conn = attempt == 0 ? impl_->TakeIdle(origin) : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) {
      auto fresh = impl_->Connect(*url);
      if (!fresh.ok()) return fresh.status();
      conn = std::move(*fresh);
    }
    Outcome o = impl_->Exchange(*conn, *url, head, req, on_head, on_data);
    if (o.status.ok()) {
      if (o.reusable) impl_->ReturnIdle(origin, std::move(conn));
      return o.status;
    }
    if (!(o.stale && reused)) return o.status;
    // The pooled connection had been closed by the server; the request never reached it.
  }
}

}  // namespace deja::server
