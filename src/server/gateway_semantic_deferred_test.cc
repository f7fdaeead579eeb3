// The semantic tier with a remote embedder whose endpoint is down when the gateway starts (its
// dimension unknown, so the saved index cannot load yet): lookups fail open to exact-only, and once
// the endpoint answers the tier serves without a restart and the deferred load brings in the saved
// index or a rebuild from the store (semantic_setup.h). GatewayFixture (real HTTP server, LMDB
// store, fake provider) and a fake embeddings endpoint started later on a port reserved up front.
// Also: a stop request interrupts the load between rebuild batches, directly and through serve's
// DeferredSemanticIndexLoader (its background thread), via an embedder hook (no sleeps).
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/json.h"
#include "semantic/circuit_breaker.h"
#include "semantic/embedder.h"
#include "semantic/lexical_embedder.h"
#include "server/gateway_test_util.h"
#include "server/http_server.h"
#include "server/http_test_util.h"
#include "server/semantic_gateway_test_util.h"
#include "server/semantic_setup.h"
#include "server/upstream_embedding_transport.h"

namespace deja::server {
namespace {

using testing::ClientResponse;

using testing::ChatBody;

constexpr char kQuestion[] = "What is the capital city of France?";
constexpr char kReworded[] = "Tell me the capital city of France";
constexpr char kRewordedAgain[] = "Which city is the capital city of France?";
constexpr char kEverest[] = "How tall is Mount Everest in meters?";
constexpr char kEverestReworded[] = "Tell me how tall Mount Everest is in meters";

// An OpenAI-compatible POST /v1/embeddings endpoint answering with the lexical embedder's vectors
// (so reworded questions are near), started on demand on a given port.
class LexicalEmbeddingsEndpoint final : public HttpHandler {
 public:
  ~LexicalEmbeddingsEndpoint() override { Stop(); }

  Status Start(int port) {
    HttpServerOptions o;
    o.listen = "127.0.0.1:" + std::to_string(port);
    o.io_threads = 1;
    DEJA_ASSIGN_OR_RETURN(server_, HttpServer::Start(o, this));
    return Status::Ok();
  }
  void Stop() {
    if (server_) server_->Stop(0);
    server_.reset();
  }

  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override {
    StatusOr<json::Value> body = json::Parse(request.body);
    const json::Value* input = body.ok() ? body->Find("input") : nullptr;
    if (request.path != "/v1/embeddings" || input == nullptr || !input->is_array()) {
      writer->Send(400, {}, R"({"error":{"message":"bad request"}})");
      return;
    }
    // Written by hand: {"data":[{"index":i,"embedding":[...]}, ...]}.
    std::string answer = R"({"data":[)";
    for (size_t i = 0; i < input->as_array().size(); ++i) {
      std::vector<float> v;
      if (!lexical_->Embed(input->as_array()[i].as_string(), &v).ok()) {
        writer->Send(500, {}, R"({"error":{"message":"embedding failed"}})");
        return;
      }
      answer += (i > 0 ? "," : "") + std::string(R"({"index":)") + std::to_string(i) +
                R"(,"embedding":[)";
      for (size_t d = 0; d < v.size(); ++d) {
        char number[32];
        std::snprintf(number, sizeof number, "%s%.9g", d > 0 ? "," : "", v[d]);
        answer += number;
      }
      answer += "]}";
    }
    answer += "]}";
    writer->Send(200, {{"Content-Type", "application/json"}}, answer);
  }

 private:
  std::unique_ptr<semantic::Embedder> lexical_ = semantic::NewLexicalEmbedder(256);
  std::unique_ptr<HttpServer> server_;
};

class GatewaySemanticDeferredTest : public testing::GatewayFixture {
 protected:
  void SetUp() override {
    GatewayFixture::SetUp();
    {
      testing::Listener l;  // a port that was free a moment ago and now has no listener
      port_ = l.port();
    }
    semantic_factory_ = [this](const GatewayOptions& o, Store& store) {
      auto cache = OpenSemanticCache(o, store, embedder_, &deferred_);
      EXPECT_TRUE(cache.ok()) << cache.status().ToString();
      return cache.ok() ? std::move(*cache) : nullptr;
    };
    UseFreshRemoteEmbedder();
  }
  void TearDown() override {
    GatewayFixture::TearDown();
    endpoint_.Stop();
  }
  // A remote embedder for port_ (memoized, as MakeEmbedder builds it) that has not learned its
  // dimension yet, its breaker on the fixture's clock.
  void UseFreshRemoteEmbedder() {
    semantic::EmbedderOptions eo;
    eo.kind = "remote";
    eo.url = "http://127.0.0.1:" + std::to_string(port_);
    eo.model = "test-embed";
    eo.api_key_env = "";
    eo.timeout_ms = 5000;
    eo.transport = NewUpstreamEmbeddingTransport();
    eo.breaker =
        std::make_shared<semantic::CircuitBreaker>(semantic::CircuitBreakerOptions{}, &clock_);
    StatusOr<std::unique_ptr<semantic::Embedder>> e = semantic::MakeEmbedder(eo);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    embedder_ = std::move(*e);
  }
  GatewayOptions Options() {
    GatewayOptions o;
    o.semantic.enabled = true;
    o.semantic.max_false_hit_rate = 1;
    o.store.data_dir = dir_;  // as Start sets it: the index file sits beside the store
    return o;
  }
  int64_t EmbedderErrors() { return gateway_->metrics().errors(ErrorKind::kEmbedder); }

  int port_ = 0;
  LexicalEmbeddingsEndpoint endpoint_;
  std::shared_ptr<const semantic::Embedder> embedder_;
  bool deferred_ = false;
};

TEST_F(GatewaySemanticDeferredTest, DownAtStartServesExactOnlyThenSemanticHitsOnceItAnswers) {
  const GatewayOptions o = Options();
  Start(o);
  EXPECT_TRUE(deferred_);
  EXPECT_EQ(embedder_->dimensions(), 0);

  // Down: every lookup fails open to the exact tier, and each failure is counted.
  ClientResponse asked_down = Chat(ChatBody(kQuestion));
  EXPECT_EQ(asked_down.Header("X-Deja-Cache"), "miss");
  ClientResponse reworded_down = Chat(ChatBody(kReworded));
  EXPECT_EQ(reworded_down.code, 200);
  EXPECT_EQ(reworded_down.Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat(ChatBody(kQuestion)).Header("X-Deja-Cache"), "hit");  // exact tier unaffected
  EXPECT_EQ(EmbedderErrors(), 2);
  EXPECT_EQ(semantic_->size(), 0u);

  // Up, no restart: the first answer fixes the dimension, new answers are indexed and reworded
  // questions are semantic hits.
  ASSERT_TRUE(endpoint_.Start(port_).ok());
  ClientResponse first = Chat(ChatBody(kEverest));
  EXPECT_EQ(first.Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(embedder_->dimensions(), 256);
  EXPECT_EQ(semantic_->size(), 1u);
  ClientResponse hit = Chat(ChatBody(kEverestReworded));
  EXPECT_EQ(hit.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_EQ(hit.Header("X-Deja-Matched-Key"), first.Header("X-Deja-Key"));
  EXPECT_EQ(EmbedderErrors(), 2);

  // The deferred load (no saved index: a rebuild from the store) brings in what was stored while
  // the endpoint was down, and keeps the entry admitted meanwhile as it was.
  EXPECT_TRUE(LoadDeferredSemanticIndex(o, *store_, *semantic_));
  EXPECT_EQ(semantic_->size(), 3u);
  EXPECT_EQ(semantic_->orphans(), 2u);
  ClientResponse old = Chat(ChatBody(kRewordedAgain));
  EXPECT_EQ(old.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_THAT(
      old.Header("X-Deja-Matched-Key"),
      ::testing::AnyOf(asked_down.Header("X-Deja-Key"), reworded_down.Header("X-Deja-Key")));
  EXPECT_EQ(provider_.calls(), 3);
}

TEST_F(GatewaySemanticDeferredTest, SavedIndexWaitsForTheEmbedderThenLoads) {
  const GatewayOptions o = Options();
  ASSERT_TRUE(endpoint_.Start(port_).ok());
  Start(o);
  EXPECT_FALSE(deferred_);
  ClientResponse first = Chat(ChatBody(kQuestion, "constant"));
  ASSERT_TRUE(SaveSemanticCache(*semantic_, o).ok());
  Stop();

  endpoint_.Stop();
  UseFreshRemoteEmbedder();
  Start(o);
  EXPECT_TRUE(deferred_);
  EXPECT_EQ(semantic_->size(), 0u);
  // Nothing to save while the dimension is unknown: the saved index stays as it is.
  EXPECT_FALSE(SaveSemanticCache(*semantic_, o).ok());
  EXPECT_FALSE(LoadDeferredSemanticIndex(o, *store_, *semantic_));  // still down
  ClientResponse down = Chat(ChatBody(kReworded, "constant"), {{"Cache-Control", "no-store"}});
  EXPECT_EQ(down.Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(EmbedderErrors(), 1);

  ASSERT_TRUE(endpoint_.Start(port_).ok());
  EXPECT_FALSE(LoadDeferredSemanticIndex(o, *store_, *semantic_, /*probe=*/false));
  EXPECT_TRUE(LoadDeferredSemanticIndex(o, *store_, *semantic_));
  EXPECT_EQ(semantic_->size(), 1u);
  EXPECT_EQ(semantic_->orphans(), 0u);  // the saved entry, tenant and all (no rebuild)
  ClientResponse r = Chat(ChatBody(kReworded, "constant"));
  EXPECT_EQ(r.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_EQ(r.Header("X-Deja-Matched-Key"), first.Header("X-Deja-Key"));
  EXPECT_EQ(provider_.calls(), 2);
}

// The lexical embedder, calling a hook from each EmbedBatch (the rebuild embeds in batches of 64).
class HookedEmbedder final : public semantic::Embedder {
 public:
  std::string_view name() const override { return lexical_->name(); }
  int dimensions() const override { return lexical_->dimensions(); }
  Status Embed(std::string_view text, std::vector<float>* out) const override {
    return lexical_->Embed(text, out);
  }
  Status EmbedBatch(std::span<const std::string_view> texts,
                    std::vector<std::vector<float>>* out) const override {
    batches_.fetch_add(1);
    if (on_batch) on_batch();
    return lexical_->EmbedBatch(texts, out);
  }
  int batches() const { return batches_.load(); }

  std::function<void()> on_batch;  // set before the load starts

 private:
  std::unique_ptr<semantic::Embedder> lexical_ = semantic::NewLexicalEmbedder(256);
  mutable std::atomic<int> batches_{0};
};

// A store of 70 answered questions (more than one rebuild batch) and no saved index, so a deferred
// load is a rebuild: stopping it between batches leaves the first batch in the cache.
class DeferredLoadStopTest : public testing::GatewayFixture {
 protected:
  static constexpr size_t kStored = 70;
  static constexpr size_t kBatch = 64;

  void SetUp() override {
    GatewayFixture::SetUp();
    options_.store.data_dir = dir_;
    Start(options_);  // the exact tier only: answers are stored, none indexed
    for (size_t i = 0; i < kStored; ++i) {
      ASSERT_EQ(Chat(ChatBody("How many moons does planet number " + std::to_string(i) +
                              " of the catalogue have?"))
                    .code,
                200);
    }
    options_.semantic.enabled = true;
  }
  std::unique_ptr<semantic::SemanticCache> NewCache() {
    return std::make_unique<semantic::SemanticCache>(SemanticCacheOptionsFrom(options_.semantic),
                                                     embedder_);
  }

  GatewayOptions options_;
  std::shared_ptr<HookedEmbedder> embedder_ = std::make_shared<HookedEmbedder>();
};

TEST_F(DeferredLoadStopTest, StopInterruptsTheRebuildBetweenBatchesAndALaterLoadCompletesIt) {
  std::unique_ptr<semantic::SemanticCache> cache = NewCache();
  std::atomic<bool> stop{false};
  embedder_->on_batch = [&] { stop.store(true); };  // shutdown comes during the first batch
  EXPECT_FALSE(LoadDeferredSemanticIndex(options_, *store_, *cache, /*probe=*/true, &stop));
  EXPECT_EQ(embedder_->batches(), 1);  // the remaining entries were never embedded
  EXPECT_EQ(cache->size(), kBatch);

  embedder_->on_batch = nullptr;
  stop.store(false);
  EXPECT_TRUE(LoadDeferredSemanticIndex(options_, *store_, *cache, /*probe=*/true, &stop));
  EXPECT_EQ(cache->size(), kStored);
}

TEST_F(DeferredLoadStopTest, LoaderRunsTheLoadOnItsThreadAndStopLeavesItUnfinished) {
  {
    std::unique_ptr<semantic::SemanticCache> cache = NewCache();
    DeferredSemanticIndexLoader loader(options_, *store_, *cache);
    embedder_->on_batch = [&] { loader.RequestStop(); };
    loader.Poll();
    loader.Wait();               // the attempt ends at the stop, after its first batch
    EXPECT_TRUE(loader.Stop());  // interrupted with part of the index in
    EXPECT_FALSE(loader.loaded());
    EXPECT_EQ(cache->size(), kBatch);
    loader.Poll();  // stopped: starts no more attempts
    loader.Wait();
    EXPECT_EQ(embedder_->batches(), 1);
    EXPECT_FALSE(loader.loaded());
  }
  embedder_->on_batch = nullptr;
  std::unique_ptr<semantic::SemanticCache> cache = NewCache();
  DeferredSemanticIndexLoader loader(options_, *store_, *cache);
  loader.Poll();
  loader.Wait();
  EXPECT_TRUE(loader.loaded());
  EXPECT_EQ(cache->size(), kStored);
  EXPECT_FALSE(loader.Stop());  // nothing left to interrupt
}

}  // namespace
}  // namespace deja::server
