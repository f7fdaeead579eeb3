#include "server/http_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/http_test_util.h"
#include "server/upstream_client.h"

namespace deja::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace deja::server::testing;
using Fn = std::function<void(HttpRequest, std::shared_ptr<ResponseWriter>)>;
using Clock = std::chrono::steady_clock;

class FnHandler : public HttpHandler {
 public:
  explicit FnHandler(Fn fn) : fn_(std::move(fn)) {}
  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override {
    calls_.fetch_add(1);
    fn_(std::move(request), std::move(writer));
  }
  int calls() const { return calls_.load(); }

 private:
  Fn fn_;
  std::atomic<int> calls_{0};
};

// A one-shot flag another thread can wait on (with a generous bound so a bug fails, not hangs).
class Event {
 public:
  void Set() {
    std::lock_guard lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(kIoTimeoutSeconds), [&] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

// Threads started by handlers; joined before the server goes away.
class Workers {
 public:
  ~Workers() { JoinAll(); }
  void Run(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    threads_.emplace_back(std::move(fn));
  }
  void JoinAll() {
    std::vector<std::thread> ts;
    {
      std::lock_guard lock(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) t.join();
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

std::unique_ptr<HttpServer> StartServer(HttpHandler* handler, HttpServerOptions options = {}) {
  options.listen = "127.0.0.1:0";
  if (options.io_threads == 0) options.io_threads = 2;
  auto server = HttpServer::Start(options, handler);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(*server) : nullptr;
}

struct Result {
  Status status;
  int code = 0;
  Headers headers;
  std::string body;
};

Result Call(UpstreamClient& client, int port, std::string method, std::string target,
            std::string body = "", Headers headers = {}) {
  Result r;
  UpstreamRequest req{"http://127.0.0.1:" + std::to_string(port), std::move(method),
                      std::move(target), std::move(headers), std::move(body)};
  r.status = client.Send(
      req,
      [&](const UpstreamResponseHead& h) {
        r.code = h.status;
        r.headers = h.headers;
        return true;
      },
      [&](std::string_view d) {
        r.body.append(d);
        return true;
      });
  return r;
}

std::string RawExchange(int port, std::string_view request, RawResponse* out) {
  int fd = ConnectTo(port);
  if (fd < 0) return "connect failed";
  WriteAll(fd, request);
  std::string buf;
  *out = ReadResponse(fd, &buf);
  ::close(fd);
  return "";
}

Fn Echo() {
  return [](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
    w->Send(200,
            {{"Content-Type", "text/plain"},
             {"X-Method", req.method},
             {"X-Path", req.path},
             {"X-Target", req.target},
             {"X-Test", std::string(req.Header("x-TEST"))},
             {"X-Remote", req.remote_addr},
             {"Content-Length", "999"},  // ignored: the server frames the body itself
             {"X-Bad", "a\r\nInjected: 1"}},
            req.body);
  };
}

TEST(HttpServerTest, PlainRequestResponse) {
  FnHandler handler(Echo());
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  UpstreamClient client;
  Result r = Call(client, server->port(), "POST", "/v1/echo?x=1", "hello", {{"X-Test", "hi"}});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(FindHeader(r.headers, "x-method"), "POST");
  EXPECT_EQ(FindHeader(r.headers, "x-path"), "/v1/echo");
  EXPECT_EQ(FindHeader(r.headers, "x-target"), "/v1/echo?x=1");
  EXPECT_EQ(FindHeader(r.headers, "x-test"), "hi");
  EXPECT_EQ(FindHeader(r.headers, "content-length"), "5");
  EXPECT_EQ(FindHeader(r.headers, "x-bad"), "");
  EXPECT_EQ(FindHeader(r.headers, "injected"), "");
  EXPECT_THAT(std::string(FindHeader(r.headers, "x-remote")), StartsWith("127.0.0.1:"));
}

TEST(HttpServerTest, KeepAliveReusesTheConnection) {
  FnHandler handler(Echo());
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  UpstreamClient client;
  Result a = Call(client, server->port(), "GET", "/a");
  Result b = Call(client, server->port(), "GET", "/b");
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  // Same client port: the second request went over the pooled connection.
  EXPECT_EQ(FindHeader(a.headers, "x-remote"), FindHeader(b.headers, "x-remote"));
  EXPECT_EQ(client.IdleConnections(), 1u);

  // Raw: two requests one after the other on one socket.
  int fd = ConnectTo(server->port());
  ASSERT_GE(fd, 0);
  std::string buf;
  for (const char* path : {"/one", "/two"}) {
    ASSERT_TRUE(WriteAll(fd, "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    RawResponse r = ReadResponse(fd, &buf);
    ASSERT_TRUE(r.complete);
    EXPECT_EQ(HeadValue(r.head, "x-path"), path);
    EXPECT_EQ(HeadValue(r.head, "connection"), "");
  }
  ::close(fd);
}

TEST(HttpServerTest, PipelinedResponsesStayInOrder) {
  Workers workers;
  FnHandler handler([&](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
    if (req.path == "/slow") {
      // Answered later from another thread; /fast must still come second.
      workers.Run([w] { w->Send(200, {}, "slow"); });
    } else {
      w->Send(200, {}, "fast");
    }
  });
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  int fd = ConnectTo(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd,
                       "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                       "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string buf;
  RawResponse r1 = ReadResponse(fd, &buf);
  RawResponse r2 = ReadResponse(fd, &buf);
  RawResponse r3 = ReadResponse(fd, &buf);
  EXPECT_EQ(r1.body, "slow");
  EXPECT_EQ(r2.body, "fast");
  EXPECT_EQ(r3.body, "slow");
  EXPECT_EQ(HeadValue(r3.head, "connection"), "close");
  EXPECT_TRUE(PeerClosed(fd));
  ::close(fd);
}

// The stub streams from a worker thread in lock step with the client: chunk i+1 is written only
// after the client has received chunk i, so the test would time out if chunks were held back.
TEST(HttpServerTest, StreamsChunksInOrderAndPromptly) {
  constexpr int kChunks = 20;
  std::mutex mu;
  std::condition_variable cv;
  int received = 0;
  std::atomic<bool> stalled{false};
  Workers workers;
  FnHandler handler([&](HttpRequest, std::shared_ptr<ResponseWriter> w) {
    workers.Run([&, w] {
      ASSERT_TRUE(w->StartStream(200, {{"Content-Type", "text/event-stream"}}));
      for (int i = 0; i < kChunks; ++i) {
        ASSERT_TRUE(w->Write("data: " + std::to_string(i) + "\n\n"));
        std::unique_lock lock(mu);
        if (!cv.wait_for(lock, std::chrono::seconds(kIoTimeoutSeconds),
                         [&] { return received > i; })) {
          stalled = true;
          break;
        }
      }
      w->Finish();
    });
  });
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  UpstreamClient client;
  std::string body;
  int status = 0;
  Headers headers;
  Status s = client.Send(
      {"http://127.0.0.1:" + std::to_string(server->port()), "POST", "/stream", {}, "{}"},
      [&](const UpstreamResponseHead& h) {
        status = h.status;
        headers = h.headers;
        return true;
      },
      [&](std::string_view d) {
        body.append(d);
        std::lock_guard lock(mu);
        size_t events = 0;
        for (size_t p = 0; (p = body.find("\n\n", p)) != std::string::npos; p += 2) ++events;
        received = static_cast<int>(events);
        cv.notify_all();
        return true;
      });
  workers.JoinAll();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(stalled.load());
  EXPECT_EQ(status, 200);
  EXPECT_EQ(FindHeader(headers, "content-type"), "text/event-stream");
  std::string expected;
  for (int i = 0; i < kChunks; ++i) expected += "data: " + std::to_string(i) + "\n\n";
  EXPECT_EQ(body, expected);
  // The chunked response ended cleanly, so the connection went back to the pool.
  EXPECT_EQ(client.IdleConnections(), 1u);
}

TEST(HttpServerTest, BodyOverLimitIs413) {
  FnHandler handler(Echo());
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartServer(&handler, options);
  ASSERT_TRUE(server);

  // Declared length over the limit: refused before the body is read.
  RawResponse r;
  RawExchange(server->port(), "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", &r);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(HeadValue(r.head, "content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"error":{"message":"request body exceeds the limit of 1024 bytes",)"
                    R"("type":"invalid_request_error","code":"request_too_large"}})");

  // Chunked body that grows over the limit.
  std::string chunk(800, 'a');
  RawExchange(server->port(),
              "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
                  "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n",
              &r);
  EXPECT_EQ(r.status, 413);

  // A client that sends the whole body anyway still reads the 413 (lingering close).
  UpstreamClient client;
  Result big = Call(client, server->port(), "POST", "/x", std::string(200000, 'b'));
  ASSERT_TRUE(big.status.ok()) << big.status.ToString();
  EXPECT_EQ(big.code, 413);
  EXPECT_THAT(big.body, HasSubstr("request_too_large"));

  // Within the limit is fine.
  Result ok = Call(client, server->port(), "POST", "/x", std::string(1024, 'c'));
  EXPECT_EQ(ok.code, 200);
  EXPECT_EQ(handler.calls(), 1);
}

TEST(HttpServerTest, HeadersOverLimitAre431) {
  FnHandler handler(Echo());
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  auto server = StartServer(&handler, options);
  ASSERT_TRUE(server);
  RawResponse r;
  RawExchange(server->port(),
              "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n", &r);
  EXPECT_EQ(r.status, 431);
  EXPECT_THAT(r.body, HasSubstr("invalid_request_error"));
  EXPECT_EQ(handler.calls(), 0);
}

TEST(HttpServerTest, MalformedRequestIs400) {
  FnHandler handler(Echo());
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  for (std::string_view bad : {"NOT HTTP AT ALL\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                               "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"}) {
    RawResponse r;
    RawExchange(server->port(), bad, &r);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_THAT(r.body, HasSubstr("malformed HTTP request")) << bad;
    EXPECT_EQ(HeadValue(r.head, "connection"), "close");
  }
  EXPECT_EQ(handler.calls(), 0);
}

TEST(HttpServerTest, ExpectContinue) {
  FnHandler handler(Echo());
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  int fd = ConnectTo(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(
      fd, "POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  std::string buf;
  RawResponse interim = ReadResponse(fd, &buf, /*head_only=*/true);
  EXPECT_EQ(interim.status, 100);
  ASSERT_TRUE(WriteAll(fd, "hello"));
  RawResponse r = ReadResponse(fd, &buf);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  ::close(fd);
}

TEST(HttpServerTest, Http10StreamEndsWithClose) {
  FnHandler handler([](HttpRequest, std::shared_ptr<ResponseWriter> w) {
    w->StartStream(200, {});
    w->Write("ab");
    w->Write("");  // no-op: must not end the body
    w->Write("cd");
    w->Finish();
  });
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  RawResponse r;
  RawExchange(server->port(), "GET / HTTP/1.0\r\n\r\n", &r);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(HeadValue(r.head, "transfer-encoding"), "");
  EXPECT_EQ(r.body, "abcd");
}

TEST(HttpServerTest, DroppedWriterSends500) {
  FnHandler handler([](HttpRequest, std::shared_ptr<ResponseWriter>) {});
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  UpstreamClient client;
  Result r = Call(client, server->port(), "GET", "/");
  EXPECT_EQ(r.code, 500);
  EXPECT_THAT(r.body, HasSubstr("did not produce a response"));
}

TEST(HttpServerTest, DroppedWriterMidStreamTruncates) {
  FnHandler handler([](HttpRequest, std::shared_ptr<ResponseWriter> w) {
    w->StartStream(200, {});
    w->Write("partial");
  });
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  UpstreamClient client;
  Result r = Call(client, server->port(), "GET", "/");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "partial");
  EXPECT_EQ(r.status.code(), StatusCode::kUnavailable) << r.status.ToString();
}

TEST(HttpServerTest, ClientDisconnectMidStreamMakesWriteFail) {
  Event first_written, client_closed;
  std::atomic<bool> gone_seen{false}, write_failed{false};
  Workers workers;
  FnHandler handler([&](HttpRequest, std::shared_ptr<ResponseWriter> w) {
    workers.Run([&, w] {
      w->StartStream(200, {{"Content-Type", "text/event-stream"}});
      w->Write("data: first\n\n");
      first_written.Set();
      client_closed.Wait();
      // The server notices the close asynchronously; poll the flag with a bound.
      auto deadline = Clock::now() + std::chrono::seconds(kIoTimeoutSeconds);
      while (!w->ClientGone() && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      gone_seen = w->ClientGone();
      write_failed = !w->Write("data: second\n\n");
      w->Finish();
    });
  });
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  int fd = ConnectTo(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string buf;
  while (buf.find("data: first") == std::string::npos && ReadMore(fd, &buf)) {
  }
  EXPECT_THAT(buf, HasSubstr("data: first"));
  ::close(fd);
  client_closed.Set();
  workers.JoinAll();
  EXPECT_TRUE(gone_seen.load());
  EXPECT_TRUE(write_failed.load());
}

TEST(HttpServerTest, StopDrainsInFlightRequest) {
  Event received;
  std::shared_ptr<ResponseWriter> held;
  std::mutex mu;
  FnHandler handler([&](HttpRequest, std::shared_ptr<ResponseWriter> w) {
    {
      std::lock_guard lock(mu);
      held = std::move(w);
    }
    received.Set();
  });
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  const int port = server->port();

  // An idle keep-alive connection must not hold up the drain.
  int idle = ConnectTo(port);
  ASSERT_GE(idle, 0);

  UpstreamClient client;
  Result result;
  std::thread caller([&] { result = Call(client, port, "POST", "/slow", "x"); });
  ASSERT_TRUE(received.Wait());

  auto start = Clock::now();
  std::thread stopper([&] { server->Stop(/*drain_timeout_ms=*/20000); });
  // Stop has begun once new connections are refused.
  int probe;
  while ((probe = ConnectTo(port)) >= 0) {
    ::close(probe);
    ASSERT_LT(Clock::now() - start, std::chrono::seconds(kIoTimeoutSeconds));
  }
  EXPECT_TRUE(PeerClosed(idle));  // closed by Stop without waiting for the deadline
  ::close(idle);
  {
    std::lock_guard lock(mu);
    held->Send(200, {}, "drained");
    held.reset();
  }
  caller.join();
  stopper.join();
  server->Wait();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(kIoTimeoutSeconds));
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(result.code, 200);
  EXPECT_EQ(result.body, "drained");
  EXPECT_EQ(FindHeader(result.headers, "connection"), "");  // hop-by-hop: stripped by the client
}

TEST(HttpServerTest, StopDeadlineClosesHungRequests) {
  Event received;
  std::shared_ptr<ResponseWriter> held;
  FnHandler handler([&](HttpRequest, std::shared_ptr<ResponseWriter> w) {
    held = w;
    w->StartStream(200, {});
    received.Set();
  });
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  UpstreamClient client;
  Result result;
  std::thread caller([&] { result = Call(client, server->port(), "GET", "/hang"); });
  ASSERT_TRUE(received.Wait());
  server->Stop(/*drain_timeout_ms=*/50);
  caller.join();
  EXPECT_EQ(result.code, 200);
  EXPECT_EQ(result.status.code(), StatusCode::kUnavailable) << result.status.ToString();
  EXPECT_TRUE(held->ClientGone());
  EXPECT_FALSE(held->Write("late"));
  held->Finish();
  server.reset();  // The writer outlives the server safely.
  EXPECT_FALSE(held->Write("later"));
  held.reset();
}

TEST(HttpServerTest, RefusesConnectionsOverTheLimit) {
  FnHandler handler(Echo());
  HttpServerOptions options;
  options.max_connections = 1;
  auto server = StartServer(&handler, options);
  ASSERT_TRUE(server);
  int first = ConnectTo(server->port());
  ASSERT_GE(first, 0);
  std::string buf;
  ASSERT_TRUE(WriteAll(first, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(ReadResponse(first, &buf).status, 200);  // `first` is now registered

  int second = ConnectTo(server->port());
  ASSERT_GE(second, 0);
  std::string buf2;
  RawResponse r = ReadResponse(second, &buf2);
  // Either the 503 arrived or the connection was simply closed; it was never served.
  if (r.complete) {
    EXPECT_EQ(r.status, 503);
  }
  ::close(second);
  EXPECT_EQ(handler.calls(), 1);
  ::close(first);
}

TEST(HttpServerTest, IdleConnectionTimesOut) {
  FnHandler handler(Echo());
  HttpServerOptions options;
  options.idle_timeout_ms = 100;
  auto server = StartServer(&handler, options);
  ASSERT_TRUE(server);
  int fd = ConnectTo(server->port());
  ASSERT_GE(fd, 0);
  auto start = Clock::now();
  EXPECT_TRUE(PeerClosed(fd));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  ::close(fd);
}

TEST(HttpServerTest, HeadGetsHeadersOnly) {
  FnHandler handler([](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
    w->Send(200, {}, req.method == "HEAD" ? "twelve bytes" : req.body);
  });
  auto server = StartServer(&handler);
  ASSERT_TRUE(server);
  UpstreamClient client;
  UpstreamRequest req{"http://127.0.0.1:" + std::to_string(server->port()), "HEAD", "/h", {}, ""};
  int code = 0;
  std::string length, body;
  Status s = client.Send(
      req,
      [&](const UpstreamResponseHead& h) {
        code = h.status;
        length = std::string(FindHeader(h.headers, "content-length"));
        return true;
      },
      [&](std::string_view d) {
        body.append(d);
        return true;
      });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(code, 200);
  EXPECT_EQ(length, "12");
  EXPECT_EQ(body, "");
  // The connection is still in sync: a following GET on it works.
  Result r = Call(client, server->port(), "POST", "/after", "x");
  EXPECT_EQ(r.body, "x");
}

// Many keep-alive clients at once, answered inline (hits) and from worker threads (misses,
// streamed).
TEST(HttpServerTest, ConcurrentMixedLoad) {
  Workers workers;
  FnHandler handler([&](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
    if (req.path == "/hit") return w->Send(200, {}, "hit:" + req.body);
    workers.Run([w, body = std::move(req.body)] {
      w->StartStream(200, {});
      for (char c : body) w->Write(std::string(1, c));
      w->Finish();
    });
  });
  auto server = StartServer(&handler, {.io_threads = 3});
  ASSERT_TRUE(server);
  UpstreamClient client({.max_idle_per_host = 4});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  constexpr int kThreads = 6, kRequests = 40;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        std::string body = std::to_string(t) + "-" + std::to_string(i);
        bool hit = (i % 2) == 0;
        Result r = Call(client, server->port(), "POST", hit ? "/hit" : "/miss", body);
        if (r.status.ok() && r.code == 200 && r.body == (hit ? "hit:" + body : body)) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  workers.JoinAll();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
}

TEST(HttpServerTest, BadListenAddress) {
  FnHandler handler(Echo());
  auto s = HttpServer::Start({.listen = "nonsense"}, &handler);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  // Port already taken.
  auto first = StartServer(&handler);
  ASSERT_TRUE(first);
  auto second =
      HttpServer::Start({.listen = "127.0.0.1:" + std::to_string(first->port())}, &handler);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace deja::server
