// The remote embedder's circuit breaker on GET /metrics and GET /deja/stats, through the real
// gateway (GatewayFixture) with a remote embedder whose endpoint refuses connections.
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semantic/circuit_breaker.h"
#include "semantic/embedder.h"
#include "server/gateway_test_util.h"
#include "server/http_test_util.h"
#include "server/semantic_gateway_test_util.h"
#include "server/semantic_setup.h"
#include "server/upstream_embedding_transport.h"

namespace deja::server {
namespace {

using testing::ClientResponse;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::ChatBody;

class GatewayEmbedderBreakerTest : public testing::SemanticGatewayFixture {
 protected:
  // A remote embedder (memoized, as MakeEmbedder builds it) whose breaker opens after two failures
  // and runs on the fixture's fake clock.
  void UseDeadRemoteEmbedder() {
    int port;
    {
      testing::Listener l;  // a port that was free a moment ago and now has no listener
      port = l.port();
    }
    semantic::CircuitBreakerOptions bo;
    bo.failure_threshold = 2;
    bo.cooldown_ms = 30000;
    semantic::EmbedderOptions eo;
    eo.kind = "remote";
    eo.url = "http://127.0.0.1:" + std::to_string(port);
    eo.model = "test-embed";
    eo.api_key_env = "";
    eo.remote_dimensions = 8;  // no dimension probe at open
    eo.timeout_ms = 5000;
    eo.transport = NewUpstreamEmbeddingTransport();
    eo.breaker = std::make_shared<semantic::CircuitBreaker>(bo, &clock_);
    StatusOr<std::unique_ptr<semantic::Embedder>> e = semantic::MakeEmbedder(eo);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    embedder_ = std::move(*e);
  }
  static GatewayOptions Options() { return SemanticOptions(); }
  const json::Value* Breaker(const json::Value& stats) {
    const json::Value* s = stats.Find("semantic");
    return s != nullptr ? s->Find("embedder_breaker") : nullptr;
  }
};

TEST_F(GatewayEmbedderBreakerTest, DeadEndpointOpensTheBreakerAndMetricsSayIt) {
  UseDeadRemoteEmbedder();
  Start(Options());
  std::string m = Metrics();
  EXPECT_THAT(m, HasSubstr("deja_semantic_embedder_breaker_open 0\n"));
  EXPECT_THAT(m, HasSubstr("deja_semantic_embedder_breaker_state{state=\"closed\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("deja_semantic_embedder_breaker_trips_total 0\n"));
  json::Value stats = Stats();
  ASSERT_NE(Breaker(stats), nullptr);
  EXPECT_EQ(Breaker(stats)->GetString("state"), "closed");

  // Two refused connections open the circuit; the third request is refused without a call.
  for (const char* q :
       {"What is the capital of France?", "How tall is Mount Everest?", "Who wrote Hamlet?"}) {
    ClientResponse r = Chat(ChatBody(q));
    EXPECT_EQ(r.code, 200);  // the semantic tier fails open
    EXPECT_EQ(r.Header("X-Deja-Cache"), "miss");
  }
  EXPECT_EQ(gateway_->metrics().errors(ErrorKind::kEmbedder), 3);
  m = Metrics();
  EXPECT_THAT(m, HasSubstr("deja_semantic_embedder_breaker_open 1\n"));
  EXPECT_THAT(m, HasSubstr("deja_semantic_embedder_breaker_state{state=\"open\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("deja_semantic_embedder_breaker_state{state=\"closed\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("deja_semantic_embedder_breaker_trips_total 1\n"));
  EXPECT_THAT(m, HasSubstr("deja_semantic_embedder_short_circuited_total 1\n"));
  stats = Stats();
  const json::Value* b = Breaker(stats);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->GetString("state"), "open");
  EXPECT_TRUE(b->Find("open")->as_bool());
  EXPECT_EQ(b->Find("trips")->as_number(), 1);
  EXPECT_EQ(b->Find("short_circuited")->as_number(), 1);
  EXPECT_EQ(b->Find("failures")->as_number(), 2);

  // After the cooldown one probe goes out (and fails): half-open, then open again.
  clock_.Advance(30001);
  Chat(ChatBody("Who painted the Mona Lisa?"));
  stats = Stats();
  EXPECT_EQ(Breaker(stats)->GetString("state"), "open");
  EXPECT_EQ(Breaker(stats)->Find("trips")->as_number(), 2);
}

TEST_F(GatewayEmbedderBreakerTest, InProcessEmbedderExportsNoBreaker) {
  Start(Options());  // the lexical embedder
  Chat(ChatBody("What is the capital of France?"));
  EXPECT_THAT(Metrics(), Not(HasSubstr("deja_semantic_embedder_breaker")));
  json::Value stats = Stats();
  ASSERT_NE(stats.Find("semantic"), nullptr);
  EXPECT_EQ(Breaker(stats), nullptr);
}

}  // namespace
}  // namespace deja::server
