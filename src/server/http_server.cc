#include "server/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/url.h"

namespace deja::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;
using Stream = beast::basic_stream<tcp, Strand>;
using Socket = tcp::socket::rebind_executor<Strand>::other;
using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 16 << 10;
// Lingering close after an error response: how long and how much of the unread request to discard
// so the client reads our 413/431/400 instead of a connection reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerMaxBytes = 4 << 20;

class Connection;

// State shared by the server and its connections. Connections (and writers that outlive the server)
// hold it by shared_ptr, so the io_context outlives every socket bound to it.
struct Core {
  Core(const HttpServerOptions& o, HttpHandler* h, int threads)
      : options(o), handler(h), ioc(threads) {}

  const HttpServerOptions options;
  HttpHandler* const handler;
  net::io_context ioc;
  std::atomic<bool> stopping{false};

  std::mutex mu;               // Guards the fields below.
  std::condition_variable cv;  // Signalled when `conns` shrinks.
  std::unordered_map<Connection*, std::weak_ptr<Connection>> conns;  // open connections
  bool closed = false;  // I/O threads are gone: posting to a strand would never run.
};

// The OpenAI-style error body clients of an LLM API already know how to read.
std::string JsonError(std::string_view message, std::string_view type, std::string_view code) {
  std::string out = R"({"error":{"message":")";
  for (char c : message) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  out += R"(","type":")";
  out += type;
  out += R"(","code":")";
  out += code;
  out += R"("}})";
  return out;
}

bool ValidFieldText(std::string_view s) {
  return s.find_first_of("\r\n", 0) == s.npos && s.find('\0') == s.npos;
}

// Fields whose meaning belongs to this connection's framing, which the server manages.
bool IsManagedField(std::string_view name) {
  return HeaderNameEquals(name, "content-length") || HeaderNameEquals(name, "transfer-encoding") ||
         HeaderNameEquals(name, "connection") || HeaderNameEquals(name, "keep-alive");
}

std::string FormatEndpoint(const tcp::endpoint& ep) {
  std::string addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

std::string ChunkFrame(std::string_view data) {
  char size[20];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out;
  out.reserve(static_cast<size_t>(n) + data.size() + 2);
  out.append(size, static_cast<size_t>(n));
  out.append(data);
  out.append("\r\n");
  return out;
}

// One accepted TCP connection. All members are used only on `strand_` except gone_ (atomic) and
// Run(), which any thread may call. Kept alive by its pending async operations and by the
// ResponseWriter of the request in progress.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Core> core, Strand strand, Socket s)
      : core_(std::move(core)), strand_(std::move(strand)), stream_(std::move(s)) {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);  // SSE chunks must not wait for Nagle.
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_addr_ = FormatEndpoint(ep);
  }

  ~Connection() { Unregister(); }

  void Start() {
    net::dispatch(strand_, [self = shared_from_this()] { self->WaitForRequest(); });
  }

  // Runs `fn` on the strand: inline when already there (the cache-hit path answers from Handle()
  // without a thread hop), else posted. Returns false once the server is shut down.
  template <class F>
  bool Run(F&& fn) {
    if (strand_.running_in_this_thread()) {
      fn();
      return true;
    }
    std::lock_guard lock(core_->mu);
    if (core_->closed) return false;
    net::post(strand_, [self = shared_from_this(), fn = std::forward<F>(fn)]() mutable { fn(); });
    return true;
  }

  bool gone() const { return gone_.load(std::memory_order_acquire); }

  // Strand only. Server shutdown: idle connections close now, busy ones after their response.
  void OnStop() {
    if (state_ == State::kIdle || state_ == State::kLinger) Close();
  }
  void ForceClose() { Close(); }

  // Strand only: the ResponseWriter's operations.
  void SendResponse(int status, const Headers& headers, std::string body) {
    if (closed_ || response_started_) return;
    response_started_ = true;
    response_complete_ = true;
    if (status < 200 || status > 599) status = 500;
    const bool no_body = head_request_ || status == 204 || status == 304;
    queue_.push_back(BuildHead(status, headers, status == 204 ? kNoLength : kLength, body.size()));
    if (!no_body && !body.empty()) queue_.push_back(std::move(body));
    Kick();
  }

  void StartStream(int status, const Headers& headers) {
    if (closed_ || response_started_) return;
    response_started_ = true;
    if (status < 200 || status > 599) status = 500;
    if (!http11_) keep_alive_ = false;  // HTTP/1.0: the body ends when the connection closes.
    queue_.push_back(BuildHead(status, headers, http11_ ? kChunked : kNoLength, 0));
    Kick();
  }

  void Enqueue(std::string frame) {
    if (closed_ || !response_started_ || response_complete_) return;
    queue_.push_back(std::move(frame));
    Kick();
  }

  void FinishStream() {
    if (closed_ || !response_started_ || response_complete_) return;
    if (http11_ && !head_request_) queue_.emplace_back("0\r\n\r\n");
    response_complete_ = true;
    Kick();
  }

  // The writer was dropped mid-stream: flush what was queued, then close without the last chunk so
  // the client can tell the body is truncated.
  void AbortStream() {
    if (closed_ || response_complete_) return;
    keep_alive_ = false;
    response_complete_ = true;
    Kick();
  }

 private:
  enum class State { kIdle, kReading, kHandling, kLinger, kClosed };
  enum Framing { kLength, kChunked, kNoLength };

  void WaitForRequest() {
    if (closed_) return;
    if (core_->stopping.load()) {
      Close();  // Draining: no new requests (pipelined ones included).
      return;
    }
    state_ = State::kIdle;
    if (buffer_.size() > 0) {  // A pipelined request is already here.
      ReadHeader();
      return;
    }
    stream_.expires_after(std::chrono::milliseconds(core_->options.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (self->closed_) return;
                              if (ec) return self->Close();  // EOF, reset or idle timeout.
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(
        std::min<size_t>(core_->options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    parser_->body_limit(static_cast<uint64_t>(core_->options.max_body_bytes));
    // One deadline for the whole request, so a client trickling bytes cannot hold a connection.
    request_deadline_ = Clock::now() + std::chrono::milliseconds(core_->options.request_timeout_ms);
    stream_.expires_at(request_deadline_);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (self->closed_) return;
                              if (ec) return self->OnReadError(ec);
                              self->OnHeader();
                            });
  }

  void OnHeader() {
    const auto& req = parser_->get();
    auto expect = req[http::field::expect];
    if (req.version() >= 11 && !parser_->is_done() && beast::iequals(expect, "100-continue")) {
      // Clients such as curl wait (about a second) for this before sending a large body.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_at(request_deadline_);
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (self->closed_) return;
                         if (ec) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return OnRequest();
    stream_.expires_at(request_deadline_);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (self->closed_) return;
                       if (ec) return self->OnReadError(ec);
                       self->OnRequest();
                     });
  }

  void OnReadError(beast::error_code ec) {
    parser_.reset();
    if (ec == http::error::body_limit) {
      return RespondError(413, "request_too_large",
                          "request body exceeds the limit of " +
                              std::to_string(core_->options.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return RespondError(431, "request_header_fields_too_large",
                          "request headers exceed the limit of " +
                              std::to_string(core_->options.max_header_bytes) + " bytes");
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return RespondError(400, "bad_request", "malformed HTTP request: " + ec.message());
    }
    Close();  // Timeout, reset or EOF mid-request: nobody to answer.
  }

  void RespondError(int status, std::string_view code, const std::string& message) {
    state_ = State::kHandling;
    keep_alive_ = false;
    linger_ = true;
    http11_ = true;
    head_request_ = false;
    SendResponse(status, {{"Content-Type", "application/json"}},
                 JsonError(message, "invalid_request_error", code));
  }

  void OnRequest();  // Defined after Writer.

  // Watches the socket while a request is being handled, so a client that disconnects is noticed
  // (ClientGone) before the response is written. Bytes that arrive are kept: they are the next
  // pipelined request.
  void StartMonitor() {
    if (monitoring_ || closed_ || buffer_.size() >= core_->options.max_header_bytes) return;
    monitoring_ = true;
    stream_.expires_never();  // Applies to the read only if a write is pending.
    stream_.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnMonitor(ec, n); });
  }

  void OnMonitor(beast::error_code ec, size_t n) {
    monitoring_ = false;
    if (closed_) return;
    if (!ec) {
      buffer_.commit(n);
    } else if (ec != net::error::operation_aborted) {
      // EOF or reset. A half-closed client could in theory still read, but HTTP clients close both
      // directions; treating EOF as "gone" lets the gateway cancel the upstream call.
      gone_.store(true, std::memory_order_release);
      keep_alive_ = false;
    }
    if (want_next_) {
      want_next_ = false;
      return keep_alive_ ? WaitForRequest() : Close();
    }
    if (!ec) StartMonitor();
  }

  Framing FramingFor(int status, Framing f) const { return status == 304 ? kNoLength : f; }

  std::string BuildHead(int status, const Headers& headers, Framing framing, size_t length) {
    if (core_->stopping.load()) keep_alive_ = false;
    framing = FramingFor(status, framing);
    std::string reason(http::obsolete_reason(static_cast<http::status>(status)));
    if (reason == "<unknown-status>") reason = "Unknown";
    std::string head;
    size_t estimate = 64;
    for (const auto& [k, v] : headers) estimate += k.size() + v.size() + 4;
    head.reserve(estimate);
    head += "HTTP/1.1 ";
    head += std::to_string(status);
    head += ' ';
    head += reason;
    head += "\r\n";
    for (const auto& [k, v] : headers) {
      if (k.empty() || !ValidFieldText(k) || !ValidFieldText(v) || k.find(':') != k.npos ||
          IsManagedField(k)) {
        continue;
      }
      head += k;
      head += ": ";
      head += v;
      head += "\r\n";
    }
    if (framing == kLength) {
      head += "Content-Length: ";
      head += std::to_string(length);
      head += "\r\n";
    } else if (framing == kChunked) {
      head += "Transfer-Encoding: chunked\r\n";
    }
    if (!keep_alive_) {
      head += "Connection: close\r\n";
    } else if (!http11_) {
      head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";
    return head;
  }

  // Starts a write of everything queued, or finishes the response when it is all written.
  void Kick() {
    if (closed_ || writing_) return;
    if (!queue_.empty()) return StartWrite();
    if (response_started_ && response_complete_) OnResponseDone();
  }

  void StartWrite() {
    writing_ = true;
    inflight_.swap(queue_);  // Gather-write: the strings are sent as they are, no copy.
    buffers_.clear();
    for (const std::string& s : inflight_) buffers_.push_back(net::buffer(s));
    stream_.expires_after(std::chrono::milliseconds(core_->options.request_timeout_ms));
    net::async_write(stream_, buffers_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      self->inflight_.clear();
      if (self->closed_) return;
      if (ec) return self->Close();
      self->Kick();
    });
  }

  void OnResponseDone() {
    response_started_ = false;
    response_complete_ = false;
    if (linger_) return LingerClose();
    if (!keep_alive_ || gone() || core_->stopping.load()) return Close();
    if (monitoring_) {
      // The next read must not overlap the monitor's; resume once it is cancelled.
      want_next_ = true;
      beast::error_code ec;
      stream_.socket().cancel(ec);
      return;
    }
    WaitForRequest();
  }

  // After an error response the client may still be sending the body we refused. Closing with
  // unread data would make the kernel send a reset, which can destroy our response before the
  // client reads it, so half-close and discard input for a while first.
  void LingerClose() {
    if (monitoring_) return Close();
    state_ = State::kLinger;
    if (core_->stopping.load()) return Close();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    stream_.expires_after(kLingerTime);
    LingerRead();
  }

  void LingerRead() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (self->closed_) return;
                              self->linger_bytes_ += n;
                              if (ec || self->linger_bytes_ > kLingerMaxBytes) return self->Close();
                              self->LingerRead();
                            });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    state_ = State::kClosed;
    gone_.store(true, std::memory_order_release);
    queue_.clear();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    Unregister();
  }

  void Unregister() {
    std::lock_guard lock(core_->mu);
    if (core_->conns.erase(this) > 0) core_->cv.notify_all();
  }

  std::shared_ptr<Core> core_;  // First: destroyed last, after the socket.
  Strand strand_;
  Stream stream_;
  std::string remote_addr_;
  std::atomic<bool> gone_{false};

  State state_ = State::kIdle;
  bool closed_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Clock::time_point request_deadline_;

  // The request in progress.
  bool keep_alive_ = true;
  bool http11_ = true;
  bool head_request_ = false;
  bool monitoring_ = false;
  bool want_next_ = false;
  bool linger_ = false;
  size_t linger_bytes_ = 0;

  // The response in progress.
  bool response_started_ = false;
  bool response_complete_ = false;  // Everything is queued.
  bool writing_ = false;
  std::vector<std::string> queue_;
  std::vector<std::string> inflight_;
  std::vector<net::const_buffer> buffers_;
};

// The ResponseWriter handed to the handler. Enforces the call protocol (Send, or StartStream,
// Write*, Finish) with an atomic state so stray calls after the response are harmless, and does the
// per-chunk framing on the caller's thread to keep the I/O threads free.
class Writer final : public ResponseWriter {
 public:
  Writer(std::shared_ptr<Connection> conn, bool chunked, bool no_body)
      : conn_(std::move(conn)), chunked_(chunked), no_body_(no_body) {}

  ~Writer() override {
    Connection* c = conn_.get();
    switch (state_.load()) {
      case kNone:
        c->Run([c] {
          c->SendResponse(
              500, {{"Content-Type", "application/json"}},
              JsonError("the server did not produce a response", "server_error", "internal_error"));
        });
        break;
      case kStreaming:
        c->Run([c] { c->AbortStream(); });
        break;
      default:
        break;
    }
  }

  void Send(int status, Headers headers, std::string body) override {
    int expected = kNone;
    if (!state_.compare_exchange_strong(expected, kDone)) return;
    Connection* c = conn_.get();
    c->Run([c, status, h = std::move(headers), b = std::move(body)]() mutable {
      c->SendResponse(status, h, std::move(b));
    });
  }

  bool StartStream(int status, Headers headers) override {
    int expected = kNone;
    if (!state_.compare_exchange_strong(expected, kStreaming)) return false;
    Connection* c = conn_.get();
    bool ok = c->Run([c, status, h = std::move(headers)] { c->StartStream(status, h); });
    return ok && !c->gone();
  }

  bool Write(std::string_view chunk) override {
    if (state_.load() != kStreaming) return false;
    Connection* c = conn_.get();
    if (c->gone()) return false;
    if (chunk.empty() || no_body_) return true;  // An empty chunk would end a chunked body.
    std::string frame = chunked_ ? ChunkFrame(chunk) : std::string(chunk);
    bool ok = c->Run([c, f = std::move(frame)]() mutable { c->Enqueue(std::move(f)); });
    return ok && !c->gone();
  }

  void Finish() override {
    int expected = kStreaming;
    if (!state_.compare_exchange_strong(expected, kDone)) return;
    Connection* c = conn_.get();
    c->Run([c] { c->FinishStream(); });
  }

  bool ClientGone() const override { return conn_->gone(); }

 private:
  enum : int { kNone, kStreaming, kDone };
  std::shared_ptr<Connection> conn_;
  const bool chunked_;
  const bool no_body_;
  std::atomic<int> state_{kNone};
};

void Connection::OnRequest() {
  state_ = State::kHandling;
  http::request<http::string_body> msg = parser_->release();
  parser_.reset();
  keep_alive_ = msg.keep_alive() && !core_->stopping.load();
  http11_ = msg.version() >= 11;
  head_request_ = msg.method() == http::verb::head;
  linger_ = false;

  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  req.path = req.target.substr(0, req.target.find('?'));
  req.headers.reserve(16);
  for (const auto& field : msg) {
    req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  req.body = std::move(msg.body());
  req.remote_addr = remote_addr_;

  StartMonitor();
  auto writer = std::make_shared<Writer>(shared_from_this(), http11_, head_request_);
  try {
    core_->handler->Handle(std::move(req), std::move(writer));
  } catch (...) {
    // The handler broke its contract; if it had not answered, the writer's destructor sends a 500.
  }
}

}  // namespace

struct HttpServer::Impl {
  Impl(const HttpServerOptions& options, HttpHandler* handler, int threads)
      : core(std::make_shared<Core>(options, handler, threads)),
        acceptor_strand(net::make_strand(core->ioc)),
        acceptor(acceptor_strand),
        retry_timer(acceptor_strand) {}

  void DoAccept() {
    auto strand = net::make_strand(core->ioc);
    acceptor.async_accept(strand, [this, strand](beast::error_code ec, Socket socket) {
      OnAccept(ec, strand, std::move(socket));
    });
  }

  void OnAccept(beast::error_code ec, Strand strand, Socket s) {
    if (core->stopping.load() || ec == net::error::operation_aborted) return;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning on the failing accept.
      retry_timer.expires_after(std::chrono::milliseconds(50));
      retry_timer.async_wait([this](beast::error_code e) {
        if (!e && !core->stopping.load()) DoAccept();
      });
      return;
    }
    std::shared_ptr<Connection> conn;
    {
      std::lock_guard lock(core->mu);
      if (core->conns.size() < static_cast<size_t>(std::max(core->options.max_connections, 1))) {
        conn = std::make_shared<Connection>(core, strand, std::move(s));
        core->conns.emplace(conn.get(), conn);
      }
    }
    if (conn) {
      conn->Start();
    } else {
      // Over the limit: a best-effort 503 without waiting on a client we do not want to serve.
      static const std::string k503 = [] {
        std::string body = R"({"error":{"message":"too many connections","type":"server_error",)"
                           R"("code":"too_many_connections"}})";
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
               "Content-Length: " +
               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      }();
      beast::error_code ignored;
      s.non_blocking(true, ignored);
      s.write_some(net::buffer(k503.data(), k503.size()), ignored);
      s.shutdown(tcp::socket::shutdown_both, ignored);
      s.close(ignored);
    }
    DoAccept();
  }

  std::vector<std::shared_ptr<Connection>> Snapshot() {
    std::vector<std::shared_ptr<Connection>> out;
    std::lock_guard lock(core->mu);
    for (auto& [raw, weak] : core->conns) {
      if (auto c = weak.lock()) out.push_back(std::move(c));
    }
    return out;
  }

  std::shared_ptr<Core> core;  // First: destroyed last.
  Strand acceptor_strand;
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  int port = 0;

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop_started = false;
  bool stopped = false;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(0); }

int HttpServer::port() const { return impl_->port; }

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                        HttpHandler* handler) {
  if (handler == nullptr) return InvalidArgumentError("HttpServer needs a handler");
  auto hp = ParseHostPort(options.listen);
  if (!hp.ok()) return hp.status();
  int threads = options.io_threads > 0 ? options.io_threads
                                       : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 1);
  auto impl = std::make_unique<Impl>(options, handler, threads);

  beast::error_code ec;
  tcp::endpoint endpoint;
  if (hp->host.empty()) {
    endpoint = tcp::endpoint(tcp::v4(), hp->port);
  } else {
    auto addr = net::ip::make_address(hp->host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(addr, hp->port);
    } else {
      tcp::resolver resolver(impl->core->ioc);
      auto results = resolver.resolve(hp->host, std::to_string(hp->port), ec);
      if (ec || results.empty()) {
        return InvalidArgumentError("cannot resolve listen host '" + hp->host +
                                    "': " + ec.message());
      }
      endpoint = results.begin()->endpoint();
    }
  }
  auto& acceptor = impl->acceptor;
  const std::string where = "listen on " + options.listen;
  if (acceptor.open(endpoint.protocol(), ec)) return UnavailableError(where + ": " + ec.message());
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec)) return UnavailableError(where + ": " + ec.message());
  if (acceptor.listen(net::socket_base::max_listen_connections, ec)) {
    return UnavailableError(where + ": " + ec.message());
  }
  impl->port = acceptor.local_endpoint(ec).port();

  impl->work.emplace(impl->core->ioc.get_executor());
  Impl* raw = impl.get();
  net::post(impl->acceptor_strand, [raw] { raw->DoAccept(); });
  for (int i = 0; i < threads; ++i) {
    impl->threads.emplace_back([raw] { raw->core->ioc.run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Stop(int drain_timeout_ms) {
  Impl& s = *impl_;
  {
    std::unique_lock lock(s.stop_mu);
    if (s.stop_started) {
      s.stop_cv.wait(lock, [&] { return s.stopped; });
      return;
    }
    s.stop_started = true;
  }
  Core& core = *s.core;
  core.stopping.store(true);
  net::post(s.acceptor_strand, [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
    s.retry_timer.cancel();
  });
  for (auto& c : s.Snapshot()) {
    Connection* raw = c.get();
    c->Run([raw] { raw->OnStop(); });
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(std::max(drain_timeout_ms, 0));
  {
    std::unique_lock lock(core.mu);
    core.cv.wait_until(lock, deadline, [&] { return core.conns.empty(); });
  }
  for (auto& c : s.Snapshot()) {
    Connection* raw = c.get();
    c->Run([raw] { raw->ForceClose(); });
  }
  {
    std::unique_lock lock(core.mu);
    core.cv.wait(lock, [&] { return core.conns.empty(); });
  }
  s.work.reset();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  {
    std::lock_guard lock(core.mu);
    core.closed = true;
  }
  // Run what writers posted between the threads exiting and `closed` being set, so no handler (and
  // the connection it holds) is left stranded in the queue.
  core.ioc.restart();
  core.ioc.poll();
  {
    std::lock_guard lock(s.stop_mu);
    s.stopped = true;
  }
  s.stop_cv.notify_all();
}

void HttpServer::Wait() {
  std::unique_lock lock(impl_->stop_mu);
  impl_->stop_cv.wait(lock, [&] { return impl_->stopped; });
}

}  // namespace deja::server
