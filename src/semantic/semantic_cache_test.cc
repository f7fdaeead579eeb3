#include "semantic/semantic_cache.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "semantic/semantic_index_file.h"

namespace deja::semantic {
namespace {

json::Value Chat(const std::string& question, const std::string& system = "") {
  std::string body = R"({"model":"m","messages":[)";
  if (!system.empty()) body += R"({"role":"system","content":")" + system + R"("},)";
  body += R"({"role":"user","content":")" + question + R"("}]})";
  return *json::Parse(body);
}

CacheKey Key(uint8_t b) {
  CacheKey k;
  k.bytes.fill(b);
  return k;
}

class SemanticCacheTest : public ::testing::Test {
 protected:
  SemanticCacheTest() : cache_(Options(), Embedder()) {}
  static SemanticCacheOptions Options() {
    SemanticCacheOptions o;
    o.seed = 1;
    o.admission.min_score = 0;
    return o;
  }
  static std::shared_ptr<const semantic::Embedder> Embedder() {
    StatusOr<std::unique_ptr<semantic::Embedder>> e = MakeEmbedder(EmbedderOptions{});
    EXPECT_TRUE(e.ok());
    return std::shared_ptr<const semantic::Embedder>(std::move(*e));
  }
  PreparedQuery Prepare(const json::Value& body, std::string_view tenant = "t") {
    ContextScope scope;
    scope.tenant = tenant;
    StatusOr<PreparedQuery> q = cache_.Prepare(Route::kChatCompletions, body, scope);
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    return std::move(*q);
  }
  SemanticCache cache_;
};

TEST_F(SemanticCacheTest, FindsARewordingInTheSamePartitionOnly) {
  ASSERT_TRUE(
      cache_.Admit(Prepare(Chat("How do I sort a list in Python?")), Key(1), "Use sorted().", 100)
          .admit);
  auto hits = cache_.Candidates(Prepare(Chat("how do i sort a list in python")), 0.8);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].key, Key(1));
  EXPECT_TRUE((*hits)[0].guard_ok);
  // Another system prompt or tenant: another partition.
  EXPECT_TRUE(
      cache_.Candidates(Prepare(Chat("how do i sort a list in python", "Be terse")), 0)->empty());
  EXPECT_TRUE(cache_.Candidates(Prepare(Chat("how do i sort a list in python"), "u"), 0)->empty());
}

TEST_F(SemanticCacheTest, QualityFilterAndNearDuplicatesAreNotAdmitted) {
  AdmissionDecision refusal =
      cache_.Admit(Prepare(Chat("Write malware")), Key(1), "I'm sorry, but I can't help.", 100);
  EXPECT_FALSE(refusal.admit);
  EXPECT_EQ(cache_.size(), 0u);
  ASSERT_TRUE(cache_.Admit(Prepare(Chat("What is a monad?")), Key(2), "A monoid.", 100).admit);
  AdmissionDecision dup = cache_.Admit(Prepare(Chat("What is a monad")), Key(3), "A monoid.", 100);
  EXPECT_FALSE(dup.admit);
  EXPECT_EQ(dup.reason, "near-duplicate");
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(SemanticCacheTest, GuardResultComesWithTheCandidate) {
  ASSERT_TRUE(cache_.Admit(Prepare(Chat("What is 5+5?")), Key(1), "10", 100).admit);
  auto hits = cache_.Candidates(Prepare(Chat("What is 5+6?")), 0);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_FALSE((*hits)[0].guard_ok);
  EXPECT_NE((*hits)[0].guard_reason.find("differ"), std::string::npos);
}

// With "ivfpq" the large index stays in its exact phase here (20 entries are far below its training
// size), so this checks the partition is rebuilt into either kind and still finds; IVF-PQ search
// itself is tested in ivfpq_index_test.cc.
TEST_F(SemanticCacheTest, PartitionRebuiltAsEitherLargeIndexKindStillFinds) {
  for (const char* kind : {"hnsw", "ivfpq"}) {
    SCOPED_TRACE(kind);
    SemanticCacheOptions o = Options();
    o.hnsw_threshold = 8;
    o.large_index = kind;
    o.admission.near_duplicate_similarity = 1.01;
    SemanticCache cache(o, Embedder());
    ContextScope scope;
    for (int i = 0; i < 20; ++i) {
      auto q = cache.Prepare(Route::kChatCompletions,
                             Chat("question number " + std::to_string(i) + " about topic " +
                                  std::string(1, static_cast<char>('a' + i))),
                             scope);
      ASSERT_TRUE(cache.Admit(*q, Key(static_cast<uint8_t>(i + 1)), "answer", 100).admit);
    }
    EXPECT_EQ(cache.size(), 20u);
    EXPECT_EQ(cache.partitions(), 1u);
    auto q = cache.Prepare(Route::kChatCompletions, Chat("question number 7 about topic h"), scope);
    auto hits = cache.Candidates(*q, 0.99);
    ASSERT_TRUE(hits.ok());
    ASSERT_FALSE(hits->empty());
    EXPECT_EQ((*hits)[0].key, Key(8));
  }
}

TEST_F(SemanticCacheTest, SaveLoadRoundTripAndCorruptionIsDataLoss) {
  PreparedQuery q = Prepare(Chat("How tall is Mount Everest?"));
  ASSERT_TRUE(cache_.Admit(q, Key(1), "8849 m", 100).admit);
  cache_.RecordVerification(Key(1), 0.9f, true);
  const std::string path = ::testing::TempDir() + "/semcache_" + std::to_string(::getpid());
  ASSERT_TRUE(SaveSemanticIndex(cache_, path).ok());
  auto loaded = LoadSemanticIndex(path, "lexical", 256);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].question, "How tall is Mount Everest?");
  ASSERT_EQ((*loaded)[0].observations.size(), 1u);
  EXPECT_TRUE((*loaded)[0].observations[0].correct);
  SemanticCache restored(Options(), Embedder());
  ASSERT_TRUE(restored.Restore(std::move(*loaded)).ok());
  EXPECT_EQ(restored.Candidates(q, 0.99)->size(), 1u);
  EXPECT_EQ(LoadSemanticIndex(path, "lexical", 512).status().code(),
            StatusCode::kFailedPrecondition);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    f.put('\x55');
  }
  EXPECT_EQ(LoadSemanticIndex(path, "lexical", 256).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(LoadSemanticIndex(path + ".none", "lexical", 256).status().code(),
            StatusCode::kNotFound);
  std::filesystem::remove(path);
}

TEST_F(SemanticCacheTest, RemoveAndExplorationDecision) {
  ASSERT_TRUE(cache_.Admit(Prepare(Chat("What is a monad?")), Key(1), "A monoid.", 100).admit);
  EXPECT_TRUE(cache_.Contains(Key(1)));
  ExploreDecision d = cache_.DecideExplore(Key(1), 0.9f);
  EXPECT_DOUBLE_EQ(d.estimate.explore_probability, 0.95);
  EXPECT_TRUE(cache_.Remove(Key(1)));
  EXPECT_FALSE(cache_.Remove(Key(1)));
  EXPECT_EQ(cache_.partitions(), 0u);
}

}  // namespace
}  // namespace deja::semantic
