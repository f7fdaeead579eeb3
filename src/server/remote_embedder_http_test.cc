// The remote embedder end to end over real loopback HTTP: RemoteEmbedder -> the UpstreamClient
// transport -> deja's HttpServer running a small OpenAI-embeddings-speaking handler.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/json.h"
#include "semantic/circuit_breaker.h"
#include "semantic/embedder.h"
#include "semantic/remote_embedder.h"
#include "server/absolute_url.h"
#include "server/http_server.h"
#include "server/upstream_embedding_transport.h"

namespace deja::server {
namespace {

using semantic::CircuitBreaker;
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;

// Speaks POST /v1/embeddings. The vector of a text is its unnormalized [length, 1, 0, 2] so tests
// can check normalization and order; answers list the items in reverse order ("index" says
// where each belongs).
class FakeEmbeddingsServer final : public HttpHandler {
 public:
  enum class Mode { kOk, kError500, kBadJson, kWrongDimension, kHang };

  FakeEmbeddingsServer() {
    auto server = HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 2}, this);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }
  ~FakeEmbeddingsServer() override { server_->Stop(0); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    if (request.method != "POST" || request.path != "/v1/embeddings") {
      writer->Send(404, {}, R"({"error":{"message":"no such route"}})");
      return;
    }
    switch (mode_.load()) {
      case Mode::kHang:
        held_.push_back(std::move(writer));  // Never answered (the server closes it at Stop).
        return;
      case Mode::kError500:
        writer->Send(500, {{"Content-Type", "application/json"}},
                     R"({"error":{"message":"model overloaded","type":"server_error"}})");
        return;
      case Mode::kBadJson:
        writer->Send(200, {{"Content-Type", "application/json"}}, R"({"data":[{"index":0,)");
        return;
      default:
        break;
    }
    StatusOr<json::Value> body = json::Parse(request.body);
    const json::Value* input = body.ok() ? body->Find("input") : nullptr;
    if (input == nullptr || !input->is_array()) {
      writer->Send(400, {}, R"({"error":{"message":"'input' must be an array"}})");
      return;
    }
    const bool wrong = mode_.load() == Mode::kWrongDimension;
    json::Value data = json::Value::MakeArray();
    const json::Array& texts = input->as_array();
    for (size_t i = texts.size(); i-- > 0;) {
      json::Value vec = json::Value::MakeArray();
      vec.Push(json::Value(static_cast<double>(texts[i].as_string().size())));
      vec.Push(json::Value(1));
      vec.Push(json::Value(0));
      if (!wrong) vec.Push(json::Value(2));
      json::Value item = json::Value::MakeObject();
      item.Set("object", json::Value("embedding"));
      item.Set("index", json::Value(static_cast<int64_t>(i)));
      item.Set("embedding", std::move(vec));
      data.Push(std::move(item));
    }
    json::Value answer = json::Value::MakeObject();
    answer.Set("object", json::Value("list"));
    answer.Set("data", std::move(data));
    answer.Set("model", json::Value(body->GetString("model")));
    writer->Send(200, {{"Content-Type", "application/json"}}, json::Write(answer));
  }

  void set_mode(Mode m) { mode_.store(m); }
  size_t request_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.size();
  }
  HttpRequest request(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.at(i);
  }

 private:
  std::atomic<Mode> mode_{Mode::kOk};
  std::mutex mu_;
  std::vector<HttpRequest> requests_;
  std::vector<std::shared_ptr<ResponseWriter>> held_;
  std::unique_ptr<HttpServer> server_;  // Last: stopped (in the destructor) before the rest goes.
};

struct Remote {
  std::shared_ptr<semantic::EmbeddingTransport> transport = NewUpstreamEmbeddingTransport();
  std::unique_ptr<semantic::Embedder> Make(const std::string& url,
                                           std::shared_ptr<CircuitBreaker> breaker = nullptr,
                                           int batch_size = 64, int timeout_ms = 5000,
                                           int dimensions = 0) {
    semantic::RemoteEmbedderOptions o;
    o.url = url;
    o.model = "test-embed";
    o.api_key = "sk-test";
    o.batch_size = batch_size;
    o.timeout_ms = timeout_ms;
    o.dimensions = dimensions;
    if (breaker == nullptr) breaker = std::make_shared<CircuitBreaker>();
    return semantic::NewRemoteEmbedder(o, transport, std::move(breaker));
  }
};

// The normalized vector the fake gives a text of `len` bytes.
std::vector<float> Expected(size_t len) {
  std::vector<float> v = {static_cast<float>(len), 1, 0, 2};
  semantic::L2Normalize(&v);
  return v;
}

void ExpectVector(const std::vector<float>& got, size_t len) {
  const std::vector<float> want = Expected(len);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
}

TEST(RemoteEmbedderHttpTest, OneRequestPerBatchInInputOrderNormalized) {
  FakeEmbeddingsServer fake;
  Remote r;
  auto e = r.Make(fake.url());
  const std::vector<std::string_view> texts = {"a", "bbbb", "cc", "dddddddd", "e"};
  std::vector<std::vector<float>> vs;
  ASSERT_TRUE(e->EmbedBatch(texts, &vs).ok());
  ASSERT_EQ(fake.request_count(), 1u);
  ASSERT_EQ(vs.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) ExpectVector(vs[i], texts[i].size());
  EXPECT_EQ(e->dimensions(), 4);
  HttpRequest req = fake.request(0);
  EXPECT_EQ(req.Header("authorization"), "Bearer sk-test");
  EXPECT_EQ(req.Header("content-type"), "application/json");
  EXPECT_EQ(req.body, R"({"model":"test-embed","input":["a","bbbb","cc","dddddddd","e"]})");
  // One text: one more request; Embed agrees with EmbedBatch.
  std::vector<float> v;
  ASSERT_TRUE(e->Embed("bbbb", &v).ok());
  EXPECT_EQ(v, vs[1]);
  EXPECT_EQ(fake.request_count(), 2u);
}

TEST(RemoteEmbedderHttpTest, SplitsLargeBatchesByBatchSize) {
  FakeEmbeddingsServer fake;
  Remote r;
  auto e = r.Make(fake.url(), nullptr, /*batch_size=*/3);
  std::vector<std::string> owned;
  for (int i = 0; i < 8; ++i) owned.push_back(std::string(static_cast<size_t>(i + 1), 'x'));
  const std::vector<std::string_view> texts(owned.begin(), owned.end());
  std::vector<std::vector<float>> vs;
  ASSERT_TRUE(e->EmbedBatch(texts, &vs).ok());
  EXPECT_EQ(fake.request_count(), 3u);  // 3 + 3 + 2
  for (size_t i = 0; i < texts.size(); ++i) ExpectVector(vs[i], texts[i].size());
}

TEST(RemoteEmbedderHttpTest, ThroughMakeEmbedderWithMemo) {
  FakeEmbeddingsServer fake;
  semantic::EmbedderOptions o;
  o.kind = "remote";
  o.url = fake.url() + "/v1";  // The OPENAI_BASE_URL form works too.
  o.model = "test-embed";
  o.api_key_env = "";
  o.transport = NewUpstreamEmbeddingTransport();
  auto e = semantic::MakeEmbedder(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::vector<float> v;
  ASSERT_TRUE((*e)->Embed("hello", &v).ok());
  ASSERT_TRUE((*e)->Embed("hello", &v).ok());
  ExpectVector(v, 5);
  EXPECT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fake.request(0).Header("authorization"), "");
}

TEST(RemoteEmbedderHttpTest, TimeoutIsDeadlineExceeded) {
  FakeEmbeddingsServer fake;
  fake.set_mode(FakeEmbeddingsServer::Mode::kHang);
  Remote r;
  auto breaker = std::make_shared<CircuitBreaker>();
  auto e = r.Make(fake.url(), breaker, 64, /*timeout_ms=*/150);
  std::vector<float> v;
  Status s = e->Embed("hello", &v);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("/v1/embeddings"));
  EXPECT_EQ(breaker->counters().failures, 1u);
}

TEST(RemoteEmbedderHttpTest, ServerErrorsOpenTheBreakerThenItRecovers) {
  FakeEmbeddingsServer fake;
  fake.set_mode(FakeEmbeddingsServer::Mode::kError500);
  FakeClock clock;
  auto breaker = std::make_shared<CircuitBreaker>(semantic::CircuitBreakerOptions{3, 1000}, &clock);
  Remote r;
  auto e = r.Make(fake.url(), breaker);
  std::vector<float> v;
  for (int i = 0; i < 3; ++i) {
    Status s = e->Embed("hello", &v);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("answered 500: model overloaded"));
  }
  EXPECT_EQ(fake.request_count(), 3u);
  EXPECT_EQ(breaker->state(), CircuitBreaker::State::kOpen);

  // Open: fails fast, nothing is sent, even once the endpoint is healthy again.
  fake.set_mode(FakeEmbeddingsServer::Mode::kOk);
  for (int i = 0; i < 5; ++i) {
    Status s = e->Embed("hello", &v);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
    EXPECT_THAT(s.message(), HasSubstr("circuit open after 3 consecutive failures"));
  }
  EXPECT_EQ(fake.request_count(), 3u);
  EXPECT_EQ(breaker->counters().short_circuited, 5u);

  // After the cooldown one probe goes through, succeeds, and closes the circuit.
  clock.Advance(1000);
  ASSERT_TRUE(e->Embed("hello", &v).ok());
  ExpectVector(v, 5);
  EXPECT_EQ(breaker->state(), CircuitBreaker::State::kClosed);
  ASSERT_TRUE(e->Embed("again", &v).ok());
  EXPECT_EQ(fake.request_count(), 5u);
  const CircuitBreaker::Counters c = breaker->counters();
  EXPECT_EQ(c.failures, 3u);
  EXPECT_EQ(c.successes, 2u);
  EXPECT_EQ(c.opened, 1u);
}

TEST(RemoteEmbedderHttpTest, BadJsonIsAnError) {
  FakeEmbeddingsServer fake;
  fake.set_mode(FakeEmbeddingsServer::Mode::kBadJson);
  Remote r;
  auto e = r.Make(fake.url());
  std::vector<float> v;
  Status s = e->Embed("hello", &v);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("malformed answer"));
}

TEST(RemoteEmbedderHttpTest, WrongDimensionIsAnError) {
  FakeEmbeddingsServer fake;
  Remote r;
  auto e = r.Make(fake.url());
  std::vector<float> v;
  ASSERT_TRUE(e->Embed("hello", &v).ok());  // Learns 4 dimensions.
  fake.set_mode(FakeEmbeddingsServer::Mode::kWrongDimension);
  Status s = e->Embed("other", &v);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("3-dimensional vectors, expected 4"));
  // A configured dimension is checked from the first answer on.
  auto configured = r.Make(fake.url(), nullptr, 64, 5000, /*dimensions=*/4);
  EXPECT_EQ(configured->Embed("x", &v).code(), StatusCode::kFailedPrecondition);
}

TEST(RemoteEmbedderHttpTest, EndpointDownIsUnavailable) {
  int port;
  {
    FakeEmbeddingsServer gone;
    port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }
  Remote r;
  auto e = r.Make("http://127.0.0.1:" + std::to_string(port));
  std::vector<float> v;
  Status s = e->Embed("hello", &v);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
}

TEST(AbsoluteUrlTest, SplitsAndResolves) {
  auto s = SplitAbsoluteUrl("https://huggingface.co/api/models/a/b?x=1#frag");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->base, "https://huggingface.co");
  EXPECT_EQ(s->target, "/api/models/a/b?x=1");
  s = SplitAbsoluteUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->target, "/");
  s = SplitAbsoluteUrl("http://h?q");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->target, "/?q");
  EXPECT_FALSE(SplitAbsoluteUrl("/relative").ok());
  EXPECT_FALSE(SplitAbsoluteUrl("ftp://h/x").ok());
  EXPECT_FALSE(SplitAbsoluteUrl("http://u@h/x").ok());

  const std::string from = "https://hub.test/org/m/resolve/main/1_Pooling/config.json?a=b";
  EXPECT_EQ(ResolveLocation(from, "https://cdn.test/x?sig=1"), "https://cdn.test/x?sig=1");
  EXPECT_EQ(ResolveLocation(from, "//cdn.test/x"), "https://cdn.test/x");
  EXPECT_EQ(ResolveLocation(from, "/api/x"), "https://hub.test/api/x");
  EXPECT_EQ(ResolveLocation(from, "other.json"),
            "https://hub.test/org/m/resolve/main/1_Pooling/other.json");
  EXPECT_EQ(ResolveLocation(from, "../../v2/f?x#y"), "https://hub.test/org/m/resolve/v2/f?x");
  EXPECT_EQ(ResolveLocation(from, "?c=d"),
            "https://hub.test/org/m/resolve/main/1_Pooling/config.json?c=d");
  EXPECT_EQ(ResolveLocation("http://h:1", "x"), "http://h:1/x");
}

}  // namespace
}  // namespace deja::server
