// The remote embedder's request building and answer parsing, with a scripted in-memory transport
// standing in for the provider. The HTTP path (real loopback server, timeouts, the breaker over
// real failures) is tested in src/server/remote_embedder_http_test.cc.
#include "semantic/remote_embedder.h"

#include <stdlib.h>

#include <deque>
#include <mutex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/json.h"

namespace deja::semantic {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Not;

struct Sent {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Answers with queued replies and records what was sent.
class ScriptedTransport final : public EmbeddingTransport {
 public:
  StatusOr<EmbeddingHttpReply> PostJson(
      const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
      const std::string& body, int) override {
    std::lock_guard<std::mutex> lock(mu);
    sent.push_back({url, headers, body});
    if (replies.empty()) return UnavailableError("no scripted reply");
    StatusOr<EmbeddingHttpReply> r = replies.front();
    replies.pop_front();
    return r;
  }
  void Reply(int status, std::string body) {
    replies.push_back(EmbeddingHttpReply{status, std::move(body)});
  }
  std::mutex mu;
  std::vector<Sent> sent;
  std::deque<StatusOr<EmbeddingHttpReply>> replies;
};

struct Fixture {
  std::shared_ptr<ScriptedTransport> transport = std::make_shared<ScriptedTransport>();
  std::shared_ptr<CircuitBreaker> breaker = std::make_shared<CircuitBreaker>();
  std::unique_ptr<Embedder> Make(RemoteEmbedderOptions o = {}) {
    if (o.url.empty()) o.url = "http://embed.test";
    if (o.model.empty()) o.model = "m";
    return NewRemoteEmbedder(o, transport, breaker);
  }
};

TEST(RemoteEmbedderTest, EndpointUrl) {
  EXPECT_EQ(EmbeddingsUrl("http://127.0.0.1:11434"), "http://127.0.0.1:11434/v1/embeddings");
  EXPECT_EQ(EmbeddingsUrl("https://api.openai.com/"), "https://api.openai.com/v1/embeddings");
  EXPECT_EQ(EmbeddingsUrl("https://api.openai.com/v1"), "https://api.openai.com/v1/embeddings");
  EXPECT_EQ(EmbeddingsUrl("http://h/proxy/v1/"), "http://h/proxy/v1/embeddings");
}

TEST(RemoteEmbedderTest, SendsModelInputAndKeyAndNormalizes) {
  Fixture f;
  f.transport->Reply(200, R"({"object":"list","data":[{"object":"embedding","index":0,
      "embedding":[3,4]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}})");
  RemoteEmbedderOptions o;
  o.api_key = "sk-secret";
  auto e = f.Make(o);
  EXPECT_EQ(e->name(), "remote");
  EXPECT_EQ(e->dimensions(), 0);  // Not known before the first answer.
  std::vector<float> v;
  ASSERT_TRUE(e->Embed("h\xC3\xA9llo \xFF", &v).ok());
  EXPECT_THAT(v, ElementsAre(FloatNear(0.6f, 1e-6), FloatNear(0.8f, 1e-6)));
  EXPECT_EQ(e->dimensions(), 2);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  const Sent& s = f.transport->sent[0];
  EXPECT_EQ(s.url, "http://embed.test/v1/embeddings");
  // Invalid UTF-8 is replaced, so the body is valid JSON.
  EXPECT_EQ(s.body, "{\"model\":\"m\",\"input\":[\"h\xC3\xA9llo \xEF\xBF\xBD\"]}");
  EXPECT_THAT(s.headers, testing::Contains(std::pair<std::string, std::string>(
                             "Authorization", "Bearer sk-secret")));
}

TEST(RemoteEmbedderTest, DecodesBase64AndHandlesEmptyTexts) {
  Fixture f;
  // float32 LE [1, 0, 0] as base64.
  f.transport->Reply(200, R"({"data":[{"index":0,"embedding":"AACAPwAAAAAAAAAA"}]})");
  auto e = f.Make();
  std::vector<std::vector<float>> vs;
  const std::vector<std::string_view> texts = {"", "x", ""};
  ASSERT_TRUE(e->EmbedBatch(texts, &vs).ok());
  ASSERT_EQ(vs.size(), 3u);
  EXPECT_THAT(vs[1], ElementsAre(1.0f, 0.0f, 0.0f));
  EXPECT_THAT(vs[0], ElementsAre(0.0f, 0.0f, 0.0f));  // Empty: zeros, not sent.
  EXPECT_THAT(vs[2], ElementsAre(0.0f, 0.0f, 0.0f));
  EXPECT_EQ(f.transport->sent[0].body, R"({"model":"m","input":["x"]})");
  // No key configured: no Authorization header.
  for (const auto& [name, value] : f.transport->sent[0].headers) EXPECT_NE(name, "Authorization");
}

TEST(RemoteEmbedderTest, OnlyEmptyTextsProbeTheDimensionOnce) {
  Fixture f;
  f.transport->Reply(200, R"({"data":[{"index":0,"embedding":[1,1,1,1]}]})");
  auto e = f.Make();
  std::vector<float> v;
  ASSERT_TRUE(e->Embed("", &v).ok());
  EXPECT_THAT(v, ElementsAre(0.0f, 0.0f, 0.0f, 0.0f));
  ASSERT_TRUE(e->Embed("", &v).ok());  // Dimension known: no second request.
  EXPECT_EQ(f.transport->sent.size(), 1u);
}

TEST(RemoteEmbedderTest, MalformedAnswersAreErrors) {
  const char* bad[] = {
      "not json",
      R"({"data":{}})",
      R"({"data":[]})",                                                        // count mismatch
      R"({"data":[{"index":0,"embedding":[1,"x"]}]})",                         // non-number
      R"({"data":[{"index":5,"embedding":[1]}]})",                             // index out of range
      R"({"data":[{"index":0,"embedding":[]}]})",                              // empty
      R"({"data":[{"index":0,"embedding":"!!"}]})",                            // bad base64
      R"({"data":[{"index":0}]})",                                             // no embedding
      R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]})"  // duplicate index
  };
  for (const char* body : bad) {
    Fixture f;
    f.transport->Reply(200, body);
    auto e = f.Make();
    std::vector<std::vector<float>> vs;
    const std::vector<std::string_view> texts = {"a"};
    const std::vector<std::string_view> two = {"a", "b"};
    Status s = e->EmbedBatch(std::string_view(body).find("},{") != std::string_view::npos
                                 ? std::span<const std::string_view>(two)
                                 : std::span<const std::string_view>(texts),
                             &vs);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << body << " -> " << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("malformed answer")) << body;
    EXPECT_EQ(f.breaker->counters().failures, 1u) << body;
  }
}

TEST(RemoteEmbedderTest, HttpErrorsMapToCodesWithoutTheKey) {
  struct Case {
    int status;
    StatusCode code;
  } cases[] = {{401, StatusCode::kPermissionDenied},
               {404, StatusCode::kNotFound},
               {429, StatusCode::kResourceExhausted},
               {400, StatusCode::kInvalidArgument},
               {503, StatusCode::kUnavailable}};
  for (const Case& c : cases) {
    Fixture f;
    f.transport->Reply(c.status,
                       R"({"error":{"message":"Incorrect API key provided: sk-secret-key"}})");
    RemoteEmbedderOptions o;
    o.api_key = "sk-secret-key";
    auto e = f.Make(o);
    std::vector<float> v;
    Status s = e->Embed("a", &v);
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("answered " + std::to_string(c.status)));
    EXPECT_THAT(s.message(), HasSubstr("Incorrect API key provided: ***"));
    EXPECT_THAT(s.message(), Not(HasSubstr("sk-secret-key")));
  }
  // TEI's error shape.
  Fixture f;
  f.transport->Reply(413,
                     R"({"error":"Input validation error: too long","error_type":"Validation"})");
  std::vector<float> v;
  EXPECT_THAT(f.Make()->Embed("a", &v).message(), HasSubstr("Input validation error: too long"));
}

TEST(RemoteEmbedderTest, TransportErrorsKeepTheirCode) {
  Fixture f;
  f.transport->replies.push_back(DeadlineExceededError("no complete answer within 5 ms"));
  std::vector<float> v;
  Status s = f.Make()->Embed("a", &v);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("POST http://embed.test/v1/embeddings"));
}

TEST(RemoteEmbedderTest, ConfiguredDimensionIsChecked) {
  Fixture f;
  f.transport->Reply(200, R"({"data":[{"index":0,"embedding":[1,2,3]}]})");
  RemoteEmbedderOptions o;
  o.dimensions = 4;
  auto e = f.Make(o);
  EXPECT_EQ(e->dimensions(), 4);
  std::vector<float> v;
  Status s = e->Embed("a", &v);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("3-dimensional vectors, expected 4"));
}

TEST(MakeEmbedderTest, ValidatesRemoteOptions) {
  EmbedderOptions o;
  o.kind = "remote";
  o.url = "http://h";
  o.model = "m";
  EXPECT_THAT(o.Validate().message(), HasSubstr("transport"));
  o.transport = std::make_shared<ScriptedTransport>();
  EXPECT_TRUE(o.Validate().ok());
  auto check = [&](auto mutate, const char* what) {
    EmbedderOptions bad = o;
    mutate(bad);
    Status s = bad.Validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << what;
    EXPECT_THAT(s.message(), HasSubstr(what));
  };
  check([](EmbedderOptions& b) { b.url = "h:80"; }, "base URL");
  check([](EmbedderOptions& b) { b.model = ""; }, "model");
  check([](EmbedderOptions& b) { b.timeout_ms = 0; }, "timeout_ms");
  check([](EmbedderOptions& b) { b.batch_size = 4096; }, "batch_size");
  check([](EmbedderOptions& b) { b.remote_dimensions = -1; }, "dimensions");
}

TEST(MakeEmbedderTest, RemoteReadsTheKeyFromTheNamedVariableAndIsMemoized) {
  auto transport = std::make_shared<ScriptedTransport>();
  transport->Reply(200,
                   R"({"data":[{"index":0,"embedding":[1,0]},{"index":1,"embedding":[0,1]}]})");
  ::setenv("DEJA_TEST_REMOTE_KEY", "sk-from-env", 1);
  EmbedderOptions o;
  o.kind = "remote";
  o.url = "http://h";
  o.model = "m";
  o.api_key_env = "DEJA_TEST_REMOTE_KEY";
  o.transport = transport;
  o.breaker = std::make_shared<CircuitBreaker>();
  auto e = MakeEmbedder(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  // The memo sends each distinct missing text once, in one batch.
  std::vector<std::vector<float>> vs;
  const std::vector<std::string_view> texts = {"a", "b", "a"};
  ASSERT_TRUE((*e)->EmbedBatch(texts, &vs).ok());
  EXPECT_THAT(vs[0], ElementsAre(1.0f, 0.0f));
  EXPECT_THAT(vs[1], ElementsAre(0.0f, 1.0f));
  EXPECT_THAT(vs[2], ElementsAre(1.0f, 0.0f));
  ASSERT_EQ(transport->sent.size(), 1u);
  EXPECT_EQ(transport->sent[0].body, R"({"model":"m","input":["a","b"]})");
  EXPECT_THAT(transport->sent[0].headers, testing::Contains(std::pair<std::string, std::string>(
                                              "Authorization", "Bearer sk-from-env")));
  std::vector<float> v;
  ASSERT_TRUE((*e)->Embed("b", &v).ok());  // From the memo.
  EXPECT_EQ(transport->sent.size(), 1u);
  EXPECT_EQ(o.breaker->counters().successes, 1u);
  ::unsetenv("DEJA_TEST_REMOTE_KEY");
}

// An embedder without its own EmbedBatch gets the default loop.
class Doubling final : public Embedder {
 public:
  std::string_view name() const override { return "doubling"; }
  int dimensions() const override { return 1; }
  Status Embed(std::string_view text, std::vector<float>* out) const override {
    if (text == "fail") return InternalError("fail");
    *out = {static_cast<float>(text.size() * 2)};
    return Status::Ok();
  }
};

TEST(EmbedBatchTest, DefaultLoopsEmbedInOrder) {
  Doubling d;
  std::vector<std::vector<float>> vs;
  const std::vector<std::string_view> texts = {"a", "bbb", ""};
  ASSERT_TRUE(d.EmbedBatch(texts, &vs).ok());
  ASSERT_EQ(vs.size(), 3u);
  EXPECT_THAT(vs[0], ElementsAre(2.0f));
  EXPECT_THAT(vs[1], ElementsAre(6.0f));
  EXPECT_THAT(vs[2], ElementsAre(0.0f));
  const std::vector<std::string_view> failing = {"a", "fail"};
  EXPECT_EQ(d.EmbedBatch(failing, &vs).code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace deja::semantic
