#include "server/upstream_client.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/http_server.h"
#include "server/http_test_util.h"
#include "server/url.h"

namespace deja::server {
namespace {

using ::testing::HasSubstr;
using namespace deja::server::testing;

struct Result {
  Status status;
  int code = 0;
  Headers headers;
  std::string body;
};

Result Get(UpstreamClient& client, const std::string& base_url, std::string target = "/",
           Headers headers = {}) {
  Result r;
  r.status = client.Send(
      {base_url, "GET", std::move(target), std::move(headers), ""},
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

std::string Local(int port, std::string_view scheme = "http") {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port);
}

// A raw HTTP peer scripted per test: runs `script` with each accepted connection on a thread.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(Listener&)> script)
      : thread_([this, script = std::move(script)] { script(listener_); }) {}
  ~ScriptedServer() {
    listener_.Shutdown();
    thread_.join();
  }
  int port() const { return listener_.port(); }

 private:
  Listener listener_;
  std::thread thread_;
};

TEST(UrlTest, ParsesBaseUrls) {
  auto u = ParseBaseUrl("https://API.openai.com");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "api.openai.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->HostHeader(), "api.openai.com");
  EXPECT_EQ(u->path_prefix, "");
  u = ParseBaseUrl("http://[::1]:9000/v1/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->HostHeader(), "[::1]:9000");
  EXPECT_EQ(u->path_prefix, "/v1");
  EXPECT_EQ(JoinTarget(u->path_prefix, "/chat?x=1"), "/v1/chat?x=1");
  EXPECT_EQ(JoinTarget("", "/a"), "/a");
  for (const char* bad :
       {"ftp://x", "http://", "http://h:99999", "http://u@h", "http://h/?q", "http://h:0"}) {
    EXPECT_EQ(ParseBaseUrl(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  auto hp = ParseHostPort("[::1]:0");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(ParseHostPort(":8080")->port, 8080);
  EXPECT_FALSE(ParseHostPort("localhost").ok());
}

TEST(HttpTypesTest, HeaderLookupIsCaseInsensitive) {
  HttpRequest r;
  r.headers = {{"Content-Type", "a"}, {"content-type", "b"}};
  EXPECT_EQ(r.Header("CONTENT-TYPE"), "a");
  EXPECT_EQ(r.Header("missing"), "");
}

TEST(UpstreamClientTest, ConnectRefusedIsUnavailable) {
  int port;
  {
    Listener l;  // A port that was free a moment ago and now has no listener.
    port = l.port();
  }
  UpstreamClient client;
  Result r = Get(client, Local(port));
  EXPECT_EQ(r.status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status.message(), HasSubstr("connect to upstream 127.0.0.1:"));
  EXPECT_THAT(r.status.message(), HasSubstr("refused"));
}

TEST(UpstreamClientTest, SilentServerIsDeadlineExceeded) {
  // The kernel completes the handshake from the backlog; nobody ever answers.
  Listener silent;
  UpstreamClient client({.read_timeout_ms = 200});
  Result r = Get(client, Local(silent.port()));
  EXPECT_EQ(r.status.code(), StatusCode::kDeadlineExceeded) << r.status.ToString();
}

TEST(UpstreamClientTest, StallMidBodyIsDeadlineExceeded) {
  ScriptedServer server([](Listener& l) {
    int fd = l.Accept();
    if (fd < 0) return;
    std::string buf;
    ReadRequest(fd, &buf);
    WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    PeerClosed(fd);  // Holds the connection open until the client gives up.
    ::close(fd);
  });
  UpstreamClient client({.read_timeout_ms = 200});
  Result r = Get(client, Local(server.port()));
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "01234");
  EXPECT_EQ(r.status.code(), StatusCode::kDeadlineExceeded) << r.status.ToString();
}

TEST(UpstreamClientTest, TruncatedBodyIsAnError) {
  ScriptedServer server([](Listener& l) {
    int fd = l.Accept();
    if (fd < 0) return;
    std::string buf;
    ReadRequest(fd, &buf);
    WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    ::close(fd);
  });
  UpstreamClient client;
  Result r = Get(client, Local(server.port()));
  EXPECT_EQ(r.body, "0123456789");
  EXPECT_EQ(r.status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status.message(), HasSubstr("truncated"));
  EXPECT_EQ(client.IdleConnections(), 0u);
}

TEST(UpstreamClientTest, DechunksAndStripsHopByHopHeaders) {
  std::promise<std::string> request_promise;
  auto request_future = request_promise.get_future();
  ScriptedServer server([&](Listener& l) {
    int fd = l.Accept();
    if (fd < 0) return;
    std::string buf;
    request_promise.set_value(ReadRequest(fd, &buf));
    WriteAll(fd,
             "HTTP/1.1 100 Continue\r\n\r\n"
             "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: X-Hop\r\n"
             "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Keep: yes\r\n\r\n"
             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    PeerClosed(fd);
    ::close(fd);
  });
  UpstreamClient client;
  Result r = Get(client, Local(server.port()) + "/prefix/", "/path?q=1",
                 {{"Host", "evil"},
                  {"Connection", "X-Drop"},
                  {"X-Drop", "1"},
                  {"Proxy-Authorization", "secret"},
                  {"TE", "trailers"},
                  {"Content-Length", "99"},
                  {"Authorization", "Bearer k"}});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.code, 201);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(FindHeader(r.headers, "x-keep"), "yes");
  for (const char* h : {"transfer-encoding", "connection", "x-hop", "keep-alive"}) {
    EXPECT_EQ(FindHeader(r.headers, h), "") << h;
  }
  std::string seen_request = request_future.get();
  EXPECT_THAT(seen_request, ::testing::StartsWith("GET /prefix/path?q=1 HTTP/1.1\r\n"));
  EXPECT_EQ(HeadValue(seen_request, "host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(HeadValue(seen_request, "authorization"), "Bearer k");
  for (const char* h : {"x-drop", "proxy-authorization", "te", "content-length", "connection"}) {
    EXPECT_EQ(HeadValue(seen_request, h), "") << h;
  }
}

TEST(UpstreamClientTest, RejectsBadRequests) {
  UpstreamClient client;
  EXPECT_EQ(Get(client, "localhost:80").status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Get(client, "http://127.0.0.1:1", "/", {{"X", "a\r\nB: c"}}).status.code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Get(client, "http://127.0.0.1:1", "/a b").status.code(), StatusCode::kInvalidArgument);
}

// The server closes the pooled connection after reading the second request without answering: the
// client must retry once on a fresh connection.
TEST(UpstreamClientTest, RetriesStalePooledConnectionOnce) {
  std::atomic<int> requests{0};
  ScriptedServer server([&](Listener& l) {
    int fd = l.Accept();
    if (fd < 0) return;
    std::string buf;
    if (!ReadRequest(fd, &buf).empty()) ++requests;
    WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok1");
    if (!ReadRequest(fd, &buf).empty()) ++requests;
    ::close(fd);  // Dropped without an answer, as a server timing out a keep-alive would.
    fd = l.Accept();
    if (fd < 0) return;
    buf.clear();
    if (!ReadRequest(fd, &buf).empty()) ++requests;
    WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok2");
    ::close(fd);
  });
  UpstreamClient client;
  Result a = Get(client, Local(server.port()));
  ASSERT_TRUE(a.status.ok()) << a.status.ToString();
  EXPECT_EQ(a.body, "ok1");
  EXPECT_EQ(client.IdleConnections(), 1u);
  Result b = Get(client, Local(server.port()));
  ASSERT_TRUE(b.status.ok()) << b.status.ToString();
  EXPECT_EQ(b.body, "ok2");
  EXPECT_EQ(requests.load(), 3);
  EXPECT_EQ(client.IdleConnections(), 0u);  // Connection: close is not pooled.
}

class EchoHandler : public HttpHandler {
 public:
  void Handle(HttpRequest req, std::shared_ptr<ResponseWriter> w) override {
    w->StartStream(200, {});
    w->Write("one");
    w->Write(req.body);
    w->Finish();
  }
};

TEST(UpstreamClientTest, CallbackAbortIsCancelled) {
  EchoHandler handler;
  auto server = HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 1}, &handler);
  ASSERT_TRUE(server.ok());
  UpstreamClient client;
  UpstreamRequest req{Local((*server)->port()), "POST", "/", {}, "two"};
  Status s = client.Send(
      req, [](const UpstreamResponseHead&) { return false; },
      [](std::string_view) { return true; });
  EXPECT_EQ(s.code(), StatusCode::kCancelled);
  s = client.Send(
      req, [](const UpstreamResponseHead&) { return true; },
      [](std::string_view) { return false; });
  EXPECT_EQ(s.code(), StatusCode::kCancelled);
  EXPECT_EQ(client.IdleConnections(), 0u);  // Aborted connections are not reused.
  std::string body;
  s = client.Send(
      req, [](const UpstreamResponseHead&) { return true; },
      [&](std::string_view d) {
        body.append(d);
        return true;
      });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(body, "onetwo");
}

TEST(UpstreamClientTest, ConcurrentCallsShareThePool) {
  EchoHandler handler;
  auto server = HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 2}, &handler);
  ASSERT_TRUE(server.ok());
  UpstreamClient client({.max_idle_per_host = 2});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string body;
        Status s = client.Send(
            {Local((*server)->port()), "POST", "/", {}, std::to_string(t * 100 + i)},
            [](const UpstreamResponseHead&) { return true; },
            [&](std::string_view d) {
              body.append(d);
              return true;
            });
        if (s.ok() && body == "one" + std::to_string(t * 100 + i)) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_LE(client.IdleConnections(), 2u);
}

// ---- TLS ----------------------------------------------------------------------------------------

struct TestCert {
  std::string cert_file;
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~TestCert() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

// A self-signed certificate for `san` (e.g. "DNS:localhost,IP:127.0.0.1"), written as PEM.
void MakeCert(const std::string& san, const std::string& path, TestCert* out) {
  out->key = EVP_EC_gen("P-256");
  ASSERT_NE(out->key, nullptr);
  X509* x = X509_new();
  out->cert = x;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, out->key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("deja test"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san.c_str()},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  ASSERT_GT(X509_sign(x, out->key, EVP_sha256()), 0);
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, x);
  std::fclose(f);
  out->cert_file = path;
}

// Serves "ok" over TLS to each connection until shut down; failed handshakes are skipped.
class TlsServer {
 public:
  explicit TlsServer(const TestCert& cert) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, cert.cert);
    SSL_CTX_use_PrivateKey(ctx_, cert.key);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TlsServer() {
    listener_.Shutdown();
    thread_.join();
    SSL_CTX_free(ctx_);
  }
  int port() const { return listener_.port(); }
  int handshakes() const { return handshakes_.load(); }

 private:
  void Serve() {
    for (;;) {
      int fd = listener_.Accept();
      if (fd < 0) return;
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        ++handshakes_;
        std::string req;
        char buf[4096];
        int n;
        while (req.find("\r\n\r\n") == std::string::npos &&
               (n = SSL_read(ssl, buf, sizeof buf)) > 0) {
          req.append(buf, static_cast<size_t>(n));
        }
        std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        SSL_write(ssl, resp.data(), static_cast<int>(resp.size()));
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      ::close(fd);
    }
  }

  Listener listener_;
  SSL_CTX* ctx_;
  std::atomic<int> handshakes_{0};
  std::thread thread_;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "deja-tls-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(TlsTest, VerifiesAgainstSystemStoreOrGivenCa) {
  TestCert cert;
  ASSERT_NO_FATAL_FAILURE(MakeCert("DNS:localhost,IP:127.0.0.1", dir_ + "/cert.pem", &cert));
  TlsServer server(cert);
  const std::string url = Local(server.port(), "https");

  UpstreamClient strict;  // System CA store: a self-signed certificate is rejected.
  Result r = Get(strict, url);
  EXPECT_EQ(r.status.code(), StatusCode::kUnavailable) << r.status.ToString();
  EXPECT_THAT(r.status.message(), HasSubstr("TLS handshake with upstream 127.0.0.1:"));
  EXPECT_THAT(r.status.message(), HasSubstr("self-signed certificate"));

  UpstreamClient insecure({.verify_tls = false});
  r = Get(insecure, url);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.body, "ok");

  UpstreamClient pinned({.ca_file = cert.cert_file});
  r = Get(pinned, url);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.body, "ok");
  // By name: SNI and host-name verification against DNS:localhost.
  r = Get(pinned, "https://localhost:" + std::to_string(server.port()));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.body, "ok");
}

TEST_F(TlsTest, RejectsHostNameMismatch) {
  TestCert cert;
  ASSERT_NO_FATAL_FAILURE(MakeCert("DNS:other.example", dir_ + "/other.pem", &cert));
  TlsServer server(cert);
  UpstreamClient pinned({.ca_file = cert.cert_file});
  Result r = Get(pinned, Local(server.port(), "https"));
  EXPECT_EQ(r.status.code(), StatusCode::kUnavailable) << r.status.ToString();
  EXPECT_THAT(r.status.message(), HasSubstr("mismatch"));
}

TEST_F(TlsTest, MissingCaFileIsReported) {
  auto client = UpstreamClient::Create({.ca_file = dir_ + "/nope.pem"});
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(client.status().message(), HasSubstr("nope.pem"));
  UpstreamClient lazy({.ca_file = dir_ + "/nope.pem"});
  EXPECT_EQ(Get(lazy, "https://127.0.0.1:1").status.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deja::server
