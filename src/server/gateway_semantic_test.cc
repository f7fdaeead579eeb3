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
#include "server/semantic_gateway_test_util.h"
#include "server/semantic_setup.h"

namespace deja::server {
namespace {

using testing::ChatBody;
using testing::ClientResponse;
using ::testing::HasSubstr;

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

class GatewaySemanticTest : public testing::SemanticGatewayFixture {
 protected:
  // Semantic on, verification off (max_false_hit_rate 1) unless a test sets it.
  static GatewayOptions Options(double max_false_hit_rate = 1) {
    return SemanticOptions(max_false_hit_rate);
  }
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
  EXPECT_EQ(Semantic("large_index_failures"), 0);
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
  GatewayOptions o = Options(/*max_false_hit_rate=*/0.2);
  o.semantic.audit_rate = 0;
  Start(o);
  Chat(ChatBody(kQuestion, "constant"));
  std::vector<std::string> outcomes;
  for (int i = 0; i < 60; ++i) {
    outcomes.push_back(Chat(ChatBody(kReworded, "constant"), NoStore()).Header("X-Deja-Cache"));
  }
  // Unproven, every would-be hit is forwarded and verified (it costs no more than the miss it is);
  // all agree, and after 16 the Wilson bound on the wrong rate is <= 0.2: served from then on.
  for (size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i], i < 16 ? "semantic-verify" : "semantic-hit") << i;
  }
  EXPECT_EQ(Semantic("verifications", "correct"), 16);
  EXPECT_EQ(Semantic("verifications", "wrong"), 0);
  EXPECT_EQ(Semantic("observed_false_hit_rate"), 0);
  EXPECT_EQ(provider_.calls(), 1 + 16);
}

TEST_F(GatewaySemanticTest, VCacheNeverServesAnEntryWhoseAnswersDisagree) {
  Start(Options(/*max_false_hit_rate=*/0.05));
  Chat(ChatBody(kQuestion, "varying"));
  for (int i = 0; i < 100; ++i) {
    ClientResponse r = Chat(ChatBody(kReworded, "varying"), NoStore());
    EXPECT_EQ(r.Header("X-Deja-Cache"), "semantic-verify") << i;
  }
  EXPECT_EQ(Semantic("verifications", "wrong"), 100);
  EXPECT_EQ(Semantic("verifications", "correct"), 0);
  EXPECT_EQ(Semantic("hits"), 0);
  EXPECT_GT(Semantic("observed_false_hit_rate"), 0.99);
}

TEST_F(GatewaySemanticTest, AMatchFoundWrongLetsTheNewQuestionJoinTheIndex) {
  Start(Options(/*max_false_hit_rate=*/0.05));
  ClientResponse first = Chat(ChatBody(kQuestion, "varying"));
  ClientResponse second = Chat(ChatBody(kReworded, "varying"));  // stored this time
  EXPECT_EQ(second.Header("X-Deja-Cache"), "semantic-verify");
  EXPECT_EQ(Semantic("verifications", "wrong"), 1);
  // Its match answered differently, so the reworded question's own answer is indexed too.
  EXPECT_EQ(semantic_->size(), 2u);
  EXPECT_TRUE(semantic_->Contains(*CacheKey::FromHex(second.Header("X-Deja-Key"))));
  EXPECT_EQ(Semantic("admitted"), 2);
}

TEST_F(GatewaySemanticTest, AVerificationWhoseUpstreamFailsIsCountedUncomparable) {
  Start(Options(/*max_false_hit_rate=*/0.05));
  Chat(ChatBody(kQuestion, "constant"));
  provider_server_->Stop(0);  // the provider is gone: the verification gets no answer
  ClientResponse r = Chat(ChatBody(kReworded, "constant"), NoStore());
  EXPECT_EQ(r.code, 502);
  EXPECT_EQ(r.Header("X-Deja-Cache"), "semantic-verify");
  EXPECT_EQ(Semantic("verifications", "uncomparable"), 1);
  EXPECT_EQ(Semantic("verifications", "correct"), 0);
  EXPECT_EQ(Semantic("verifications", "wrong"), 0);
}

TEST_F(GatewaySemanticTest, AMatchFoundRightKeepsTheIndexAsItIs) {
  Start(Options(/*max_false_hit_rate=*/0.05));
  Chat(ChatBody(kQuestion, "constant"));
  EXPECT_EQ(Chat(ChatBody(kReworded, "constant")).Header("X-Deja-Cache"), "semantic-verify");
  EXPECT_EQ(Semantic("verifications", "correct"), 1);
  EXPECT_EQ(semantic_->size(), 1u);  // the match already answers it
}

TEST_F(GatewaySemanticTest, VCacheLookupsBoundServesSomeUnprovenMatches) {
  GatewayOptions o = Options(/*max_false_hit_rate=*/0.05);
  o.semantic.false_hit_bound = "lookups";
  Start(o);
  Chat(ChatBody(kQuestion, "varying"));
  int served = 0;
  for (int i = 0; i < 100; ++i) {
    ClientResponse r = Chat(ChatBody(kReworded, "varying"), NoStore());
    served += r.Header("X-Deja-Cache") == "semantic-hit";
  }
  const double wrong = Semantic("verifications", "wrong");
  EXPECT_GE(wrong, 85);
  EXPECT_EQ(served + static_cast<int>(wrong), 100);
  // vCache's guarantee is per lookup: served with probability delta / u(s) ~ 0.05, each wrong.
  EXPECT_GE(served, 1);
  EXPECT_LE(served, 12);
}

TEST_F(GatewaySemanticTest, VCacheAuditsConfidentHits) {
  GatewayOptions o = Options(/*max_false_hit_rate=*/0.2);
  o.semantic.audit_rate = 1;  // every confident hit is audited (so none is served)
  Start(o);
  Chat(ChatBody(kQuestion, "constant"));
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(Chat(ChatBody(kReworded, "constant"), NoStore()).Header("X-Deja-Cache"),
              "semantic-verify");
  }
  EXPECT_EQ(Semantic("verifications", "correct"), 30);
  EXPECT_EQ(Semantic("audits", "correct"), 30 - 16);  // the first 16 proved the entry
  EXPECT_EQ(Semantic("audits", "wrong"), 0);
  EXPECT_EQ(Semantic("audited_false_hit_rate"), 0);
}

TEST_F(GatewaySemanticTest, DeletedOrEvictedEntryIsAMissAndLeavesTheIndex) {
  // The store is opened without the removal relay: removals it makes are not heard (as another
  // process's would not be), so this checks the lazy path. gateway_semantic_removal_test.cc has
  // the eager one.
  follow_removals_ = false;
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
  // Gone from the store behind the gateway's back: dropped at lookup.
  ASSERT_TRUE(store_->Delete(*CacheKey::FromHex(b.Header("X-Deja-Key"))).ok());
  EXPECT_EQ(Chat(ChatBody("how many legs does a spider have"), NoStore()).Header("X-Deja-Cache"),
            "miss");
  EXPECT_EQ(semantic_->size(), 0u);
  EXPECT_EQ(Semantic("stale_removed"), 1);
}

TEST_F(GatewaySemanticTest, EmbedderFailureFailsOpenToAnExactMiss) {
  embedder_ = std::make_shared<FailingEmbedder>();
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
