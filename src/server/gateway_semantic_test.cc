// The semantic tier through the real gateway (GatewayFixture: real HTTP server, real LMDB store,
// fake provider) with the deterministic lexical embedder.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semantic/embedder.h"
#include "semantic/semantic_cache.h"
#include "server/gateway.h"
#include "server/gateway_test_util.h"
#include "server/semantic_setup.h"

namespace deja::server {
namespace {

using testing::ClientResponse;
using ::testing::HasSubstr;

std::string ChatBody(const std::string& question, const std::string& model = "gpt-test",
                     bool stream = false) {
  json::Value msg = json::Value::MakeObject();
  msg.Set("role", json::Value("user"));
  msg.Set("content", json::Value(question));
  json::Array messages;
  messages.push_back(std::move(msg));
  json::Value body = json::Value::MakeObject();
  body.Set("model", json::Value(model));
  body.Set("messages", json::Value(std::move(messages)));
  if (stream) body.Set("stream", json::Value(true));
  return json::Write(body);
}

// A conversation about `person`, ending with `question`.
std::string Conversation(const std::string& person, const std::string& question) {
  return R"({"model":"gpt-test","messages":[{"role":"user","content":"Tell me about )" + person +
         R"("},{"role":"assistant","content":"Sure."},{"role":"user","content":")" + question +
         R"("}]})";
}

constexpr char kQuestion[] = "What is the capital city of France?";
constexpr char kReworded[] = "Tell me the capital city of France";

class FailingEmbedder : public semantic::Embedder {
 public:
  std::string_view name() const override { return "lexical"; }
  int dimensions() const override { return 256; }
  Status Embed(std::string_view, std::vector<float>*) const override {
    return UnavailableError("embedder down");
  }
};

class GatewaySemanticTest : public testing::GatewayFixture {
 protected:
  void SetUp() override {
    GatewayFixture::SetUp();
    semantic_factory_ = [this](const GatewayOptions& o, Store& store) {
      auto cache = OpenSemanticCache(o, store, embedder_override_);
      EXPECT_TRUE(cache.ok()) << cache.status().ToString();
      return cache.ok() ? std::move(*cache) : nullptr;
    };
  }
  // Semantic on, verification off (max_false_hit_rate 1) unless a test sets it.
  GatewayOptions Options(double max_false_hit_rate = 1) {
    GatewayOptions o;
    o.semantic.enabled = true;
    o.semantic.max_false_hit_rate = max_false_hit_rate;
    o.semantic.seed = 7;
    return o;
  }
  json::Value Stats() {
    ClientResponse r = testing::Call(client_, server_->port(), "GET", "/deja/stats", "");
    StatusOr<json::Value> v = json::Parse(r.body);
    EXPECT_TRUE(v.ok()) << r.body;
    return v.ok() ? std::move(*v) : json::Value();
  }
  double Semantic(std::string_view a, std::string_view b = {}) {
    json::Value s = Stats();
    const json::Value* x = s.Find("semantic");
    if (x != nullptr) x = x->Find(a);
    if (x != nullptr && !b.empty()) x = x->Find(b);
    return x != nullptr && x->is_number() ? x->as_number() : -1;
  }
  Headers NoStore() { return {{"Cache-Control", "no-store"}}; }

  std::shared_ptr<const semantic::Embedder> embedder_override_;
};

TEST_F(GatewaySemanticTest, RewordedQuestionIsASemanticHit) {
  Start(Options());
  ClientResponse first = Chat(ChatBody(kQuestion));
  EXPECT_EQ(first.Header("X-Deja-Cache"), "miss");
  ClientResponse second = Chat(ChatBody(kReworded));
  EXPECT_EQ(second.code, 200);
  EXPECT_EQ(second.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_EQ(second.Header("X-Deja-Matched-Key"), first.Header("X-Deja-Key"));
  EXPECT_NE(second.Header("X-Deja-Key"), first.Header("X-Deja-Key"));
  const double sim = std::stod(second.Header("X-Deja-Similarity"));
  EXPECT_GE(sim, 0.8);
  EXPECT_LT(sim, 1.0);
  EXPECT_EQ(second.Header("X-Deja-Similarity").size(), 5u);  // three decimals
  EXPECT_THAT(second.body, HasSubstr(std::string("answer to ") + kQuestion));
  EXPECT_EQ(provider_.calls(), 1);
  EXPECT_EQ(Semantic("hits"), 1);
  EXPECT_EQ(Semantic("index_entries"), 1);
  EXPECT_EQ(gateway_->metrics().requests(Route::kChatCompletions, Outcome::kHit), 1);
}

TEST_F(GatewaySemanticTest, StreamingClientGetsASemanticHitAsAStream) {
  Start(Options());
  Chat(ChatBody(kQuestion));
  ClientResponse r = Chat(ChatBody(kReworded, "gpt-test", /*stream=*/true));
  EXPECT_EQ(r.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_THAT(r.Header("Content-Type"), HasSubstr("text/event-stream"));
  EXPECT_THAT(r.body, HasSubstr("data: [DONE]"));
  EXPECT_THAT(r.body, HasSubstr("capital city of France"));
  EXPECT_EQ(provider_.calls(), 1);
}

TEST_F(GatewaySemanticTest, SameQuestionInAnotherConversationIsAMiss) {
  Start(Options());
  ClientResponse a = Chat(Conversation("Barack Obama", "How old is he?"));
  ClientResponse b = Chat(Conversation("Joe Biden", "How old is he?"));
  EXPECT_EQ(b.Header("X-Deja-Cache"), "miss");
  // Even at any similarity: the contexts differ, so the entries are never compared.
  ClientResponse c = Chat(Conversation("Joe Biden", "how old is he"), {{"X-Deja-Similarity", "0"}});
  EXPECT_EQ(c.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_EQ(c.Header("X-Deja-Matched-Key"), b.Header("X-Deja-Key"));
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewaySemanticTest, GuardsTurnNearMatchesIntoMisses) {
  Start(Options());
  Chat(ChatBody("What is 5+5?"));
  Chat(ChatBody("Is it safe to eat raw chicken?"));
  const Headers loose = {{"X-Deja-Similarity", "0.1"}, {"Cache-Control", "no-store"}};
  EXPECT_EQ(Chat(ChatBody("What is 5+6?"), loose).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat(ChatBody("Is it not safe to eat raw chicken?"), loose).Header("X-Deja-Cache"),
            "miss");
  EXPECT_GE(Semantic("guard_rejections"), 2);
  EXPECT_EQ(Semantic("hits"), 0);
  EXPECT_EQ(provider_.calls(), 4);
}

TEST_F(GatewaySemanticTest, AnotherApiKeyNeverHits) {
  Start(Options());
  Chat(ChatBody(kQuestion), {{"Authorization", "Bearer key-a"}});
  ClientResponse other = Chat(ChatBody(kReworded), {{"Authorization", "Bearer key-b"}});
  EXPECT_EQ(other.Header("X-Deja-Cache"), "miss");
  ClientResponse same =
      Chat(ChatBody("What is the capital city of France"), {{"Authorization", "Bearer key-a"}});
  EXPECT_EQ(same.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewaySemanticTest, SimilarityHeaderOverridesTheThreshold) {
  Start(Options());
  Chat(ChatBody(kQuestion));
  ClientResponse strict =
      Chat(ChatBody(kReworded), {{"X-Deja-Similarity", "0.99"}, {"Cache-Control", "no-store"}});
  EXPECT_EQ(strict.Header("X-Deja-Cache"), "miss");
  ClientResponse loose = Chat(ChatBody(kReworded), {{"X-Deja-Similarity", "0.5"}});
  EXPECT_EQ(loose.Header("X-Deja-Cache"), "semantic-hit");
  ClientResponse bad = Chat(ChatBody(kReworded), {{"X-Deja-Similarity", "1.5"}});
  EXPECT_EQ(bad.code, 400);
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewaySemanticTest, QuestionThatDiffersOnlyInAnIdGetsTheTemplateFilled) {
  Start(Options());
  Chat(ChatBody("What is the status of order ORD-12345?"));
  ClientResponse r =
      Chat(ChatBody("What is the status of order ORD-67890?"), {{"X-Deja-Similarity", "0.3"}});
  EXPECT_EQ(r.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_EQ(r.Header("X-Deja-Template"), "filled");
  EXPECT_THAT(r.body, HasSubstr("answer to What is the status of order ORD-67890?"));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("12345")));
  EXPECT_EQ(provider_.calls(), 1);
  EXPECT_EQ(Semantic("template_fills"), 1);
}

TEST_F(GatewaySemanticTest, VCacheVerifiesANewEntryThenServesItOnceProven) {
  Start(Options(/*max_false_hit_rate=*/0.2));
  Chat(ChatBody(kQuestion, "constant"));
  std::vector<std::string> outcomes;
  for (int i = 0; i < 300; ++i) {
    outcomes.push_back(Chat(ChatBody(kReworded, "constant"), NoStore()).Header("X-Deja-Cache"));
  }
  // A new entry has no evidence: it is mostly verified (probability 0.8 at delta 0.2).
  EXPECT_EQ(outcomes.front(), "semantic-verify");
  // Every verification agreed; with 16 of them u(s) <= 0.2 and the entry is always served.
  const int64_t correct = static_cast<int64_t>(Semantic("verifications", "correct"));
  EXPECT_GE(correct, 16);
  EXPECT_EQ(Semantic("verifications", "wrong"), 0);
  EXPECT_EQ(Semantic("observed_false_hit_rate"), 0);
  for (size_t i = outcomes.size() - 50; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i], "semantic-hit") << i;
  }
  EXPECT_EQ(provider_.calls(), 1 + correct);
}

TEST_F(GatewaySemanticTest, VCacheRarelyServesAnEntryWhoseAnswersDisagree) {
  Start(Options(/*max_false_hit_rate=*/0.05));
  Chat(ChatBody(kQuestion, "varying"));
  int served = 0;
  for (int i = 0; i < 100; ++i) {
    ClientResponse r = Chat(ChatBody(kReworded, "varying"), NoStore());
    served += r.Header("X-Deja-Cache") == "semantic-hit";
  }
  const double wrong = Semantic("verifications", "wrong");
  EXPECT_GE(wrong, 85);
  EXPECT_EQ(Semantic("verifications", "correct"), 0);
  EXPECT_EQ(served + static_cast<int>(wrong), 100);
  // Served with probability delta / u(s) ~ 0.05: far from the 100 a fixed threshold would serve.
  EXPECT_LE(served, 12);
  EXPECT_GT(Semantic("observed_false_hit_rate"), 0.99);
}

TEST_F(GatewaySemanticTest, DeletedOrEvictedEntryIsAMissAndLeavesTheIndex) {
  GatewayOptions o = Options();
  o.server.admin_token = "t";
  Start(o);
  ClientResponse a = Chat(ChatBody(kQuestion));
  ClientResponse b = Chat(ChatBody("How many legs does a spider have?"));
  EXPECT_EQ(semantic_->size(), 2u);
  // Admin delete: removed from the index at once.
  ClientResponse del =
      testing::Call(client_, server_->port(), "DELETE", "/deja/entries/" + a.Header("X-Deja-Key"),
                    "", {{"X-Deja-Admin-Token", "t"}});
  EXPECT_EQ(del.code, 200);
  EXPECT_EQ(semantic_->size(), 1u);
  EXPECT_EQ(Chat(ChatBody(kReworded), NoStore()).Header("X-Deja-Cache"), "miss");
  // Gone from the store behind the gateway's back (eviction, expiry): dropped at lookup.
  ASSERT_TRUE(store_->Delete(*CacheKey::FromHex(b.Header("X-Deja-Key"))).ok());
  EXPECT_EQ(Chat(ChatBody("how many legs does a spider have"), NoStore()).Header("X-Deja-Cache"),
            "miss");
  EXPECT_EQ(semantic_->size(), 0u);
  EXPECT_EQ(Semantic("stale_removed"), 1);
}

TEST_F(GatewaySemanticTest, EmbedderFailureFailsOpenToAnExactMiss) {
  embedder_override_ = std::make_shared<FailingEmbedder>();
  Start(Options());
  EXPECT_EQ(Chat(ChatBody(kQuestion)).Header("X-Deja-Cache"), "miss");
  ClientResponse r = Chat(ChatBody(kReworded));
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat(ChatBody(kQuestion)).Header("X-Deja-Cache"), "hit");  // exact tier unaffected
  EXPECT_EQ(gateway_->metrics().errors(ErrorKind::kEmbedder), 2);
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewaySemanticTest, RestartLoadsTheSavedIndex) {
  GatewayOptions o = Options();
  o.store.data_dir = dir_;  // as Start sets it: SaveSemanticCache writes beside the store
  Start(o);
  ClientResponse first = Chat(ChatBody(kQuestion, "constant"));
  ASSERT_TRUE(SaveSemanticCache(*semantic_, o).ok());
  Stop();
  Start(o);
  EXPECT_EQ(semantic_->size(), 1u);
  EXPECT_EQ(semantic_->orphans(), 0u);
  ClientResponse r = Chat(ChatBody(kReworded, "constant"));
  EXPECT_EQ(r.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_EQ(r.Header("X-Deja-Matched-Key"), first.Header("X-Deja-Key"));
  EXPECT_EQ(provider_.calls(), 1);
}

TEST_F(GatewaySemanticTest, CorruptIndexIsRebuiltFromTheStore) {
  GatewayOptions o = Options();
  o.store.data_dir = dir_;
  Start(o);
  ClientResponse first = Chat(ChatBody(kQuestion), {{"Authorization", "Bearer key-a"}});
  ASSERT_TRUE(SaveSemanticCache(*semantic_, o).ok());
  Stop();
  {
    std::fstream f(dir_ + "/semantic/index.bin", std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(40);
    f.put('\x7f');
  }
  Start(o);
  EXPECT_EQ(semantic_->size(), 1u);
  EXPECT_EQ(semantic_->orphans(), 1u);  // tenant unknown until proven
  // Another tenant's lookup finds it but cannot prove it owns it: a miss.
  ClientResponse other =
      Chat(ChatBody(kReworded), {{"Authorization", "Bearer key-b"}, {"Cache-Control", "no-store"}});
  EXPECT_EQ(other.Header("X-Deja-Cache"), "miss");
  ClientResponse mine = Chat(ChatBody(kReworded), {{"Authorization", "Bearer key-a"}});
  EXPECT_EQ(mine.Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_EQ(mine.Header("X-Deja-Matched-Key"), first.Header("X-Deja-Key"));
  EXPECT_EQ(semantic_->orphans(), 0u);  // adopted into its tenant's partition
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewaySemanticTest, OffByDefault) {
  Start(GatewayOptions{});
  Chat(ChatBody(kQuestion));
  EXPECT_EQ(Chat(ChatBody(kReworded)).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(gateway_->semantic(), nullptr);
}

TEST_F(GatewaySemanticTest, TestModesNeverUseTheSemanticTier) {
  GatewayOptions o = Options();
  o.server.mode = "record-missing";
  Start(o);
  Chat(ChatBody(kQuestion));
  EXPECT_EQ(gateway_->semantic(), nullptr);
  EXPECT_NE(Chat(ChatBody(kReworded)).Header("X-Deja-Cache"), "semantic-hit");
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewaySemanticTest, ShadowModeCountsSemanticWouldBeHits) {
  GatewayOptions o = Options();
  o.server.mode = "shadow";
  Start(o);
  Chat(ChatBody(kQuestion, "constant"));
  ClientResponse r = Chat(ChatBody(kReworded, "constant"));
  EXPECT_EQ(r.Header("X-Deja-Cache"), "shadow-semantic-hit");
  EXPECT_EQ(provider_.calls(), 2);
  ClientResponse report = testing::Call(client_, server_->port(), "GET", "/deja/shadow", "");
  StatusOr<json::Value> v = json::Parse(report.body);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->Find("would_be_hits")->Find("semantic")->as_number(), 1);
  EXPECT_EQ(v->Find("false_hits")->Find("semantic")->as_number(), 0);
}

TEST_F(GatewaySemanticTest, MetricsExposeSemanticCounters) {
  Start(Options());
  Chat(ChatBody(kQuestion));
  Chat(ChatBody(kReworded));
  ClientResponse m = testing::Call(client_, server_->port(), "GET", "/metrics", "");
  EXPECT_THAT(m.body, HasSubstr("deja_semantic_hits_total 1\n"));
  EXPECT_THAT(m.body, HasSubstr("deja_semantic_index_entries 1\n"));
  EXPECT_THAT(m.body, HasSubstr("deja_semantic_verifications_total{result=\"wrong\"} 0\n"));
  EXPECT_THAT(m.body, HasSubstr("deja_semantic_embed_latency_seconds_count"));
  EXPECT_THAT(m.body, HasSubstr("deja_errors_total{kind=\"embedder\"} 0\n"));
}

}  // namespace
}  // namespace deja::server
