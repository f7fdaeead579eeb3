#include "semantic/semantic_cache.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

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

// The cache keeps no vector of its own: Snapshot reads each one back from its partition's index,
// flat or rebuilt as the large index, exactly as it was embedded.
TEST_F(SemanticCacheTest, SnapshotReadsVectorsBackFromEitherIndexKind) {
  for (size_t threshold : {size_t{100}, size_t{4}}) {  // stays flat; switches to HNSW
    SCOPED_TRACE(threshold);
    SemanticCacheOptions o = Options();
    o.hnsw_threshold = threshold;
    o.admission.near_duplicate_similarity = 1.01;
    SemanticCache cache(o, Embedder());
    std::map<CacheKey, std::vector<float>> embedded;
    ContextScope scope;
    for (int i = 0; i < 10; ++i) {
      auto q = cache.Prepare(Route::kChatCompletions,
                             Chat("what is item " + std::to_string(i) + " made of"), scope);
      ASSERT_TRUE(q.ok());
      ASSERT_TRUE(cache.Admit(*q, Key(static_cast<uint8_t>(i + 1)), "answer", 100).admit);
      embedded[Key(static_cast<uint8_t>(i + 1))] = q->vector;
    }
    EXPECT_EQ(cache.large_index_failures(), 0u);
    std::vector<PersistedEntry> snapshot = cache.Snapshot();
    ASSERT_EQ(snapshot.size(), embedded.size());
    for (const PersistedEntry& p : snapshot) EXPECT_EQ(p.vector, embedded[p.key]);
  }
}

// A rebuilt (orphan) entry moves to the requester's partition with its own vector.
TEST_F(SemanticCacheTest, AdoptMovesTheEntryWithItsVector) {
  PreparedQuery q = Prepare(Chat("How tall is Mount Everest?"));
  ContextScope orphan;
  orphan.tenant = kOrphanTenant;
  auto split =
      SplitSemanticQuery(Route::kChatCompletions, Chat("How tall is Mount Everest?"), {}, orphan);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(q.orphan_signature, split->context_signature);
  PersistedEntry e;
  e.key = Key(1);
  e.partition = q.orphan_signature;
  e.orphan = true;
  e.question = q.split.query;
  e.vector = q.vector;
  std::vector<PersistedEntry> entries;
  entries.push_back(e);
  ASSERT_TRUE(cache_.Restore(std::move(entries)).ok());
  auto hits = cache_.Candidates(q, 0.99);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_TRUE((*hits)[0].orphan);
  cache_.Adopt(Key(1), q);
  EXPECT_EQ(cache_.orphans(), 0u);
  EXPECT_EQ(cache_.partitions(), 1u);
  hits = cache_.Candidates(q, 0.99);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_FALSE((*hits)[0].orphan);
  std::vector<PersistedEntry> snapshot = cache_.Snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].partition, q.split.context_signature);
  EXPECT_EQ(snapshot[0].vector, q.vector);
}

// A large index that cannot be built leaves the partition flat (still found), counted once per
// attempt, and retried only when the partition has doubled, not on every insertion.
TEST_F(SemanticCacheTest, FailedSwitchToTheLargeIndexIsCountedAndRetriedAfterDoubling) {
  SemanticCacheOptions o = Options();
  o.hnsw_threshold = 8;
  o.large_index = "no such index";
  o.admission.near_duplicate_similarity = 1.01;
  SemanticCache cache(o, Embedder());
  ContextScope scope;
  for (int i = 0; i < 20; ++i) {
    auto q = cache.Prepare(Route::kChatCompletions,
                           Chat("what is item " + std::to_string(i) + " made of"), scope);
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE(cache.Admit(*q, Key(static_cast<uint8_t>(i + 1)), "answer", 100).admit);
  }
  // Tried at 9 entries and again at 18: two failures, not twelve.
  EXPECT_EQ(cache.large_index_failures(), 2u);
  EXPECT_EQ(cache.last_large_index_error().code(), StatusCode::kInvalidArgument);
  auto q = cache.Prepare(Route::kChatCompletions, Chat("what is item 13 made of"), scope);
  auto hits = cache.Candidates(*q, 0.99);
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].key, Key(14));
}

// A failing index search is an error of Candidates (the gateway counts it), and Admit does not
// insert without its near-duplicate check.
TEST_F(SemanticCacheTest, SearchErrorsReachTheCaller) {
  ASSERT_TRUE(cache_.Admit(Prepare(Chat("What is a monad?")), Key(1), "A monoid.", 100).admit);
  PreparedQuery bad = Prepare(Chat("What is a functor?"));
  bad.vector[0] = std::nanf("");  // the index rejects the query
  EXPECT_EQ(cache_.Candidates(bad, 0).status().code(), StatusCode::kInvalidArgument);
  AdmissionDecision d = cache_.Admit(bad, Key(2), "A mapping.", 100);
  EXPECT_FALSE(d.admit);
  EXPECT_EQ(d.reason.rfind("index: search failed: ", 0), 0u) << d.reason;
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(SemanticCacheTest, SaveLoadRoundTripAndCorruptionIsDataLoss) {
  PreparedQuery q = Prepare(Chat("How tall is Mount Everest?"));
  ASSERT_TRUE(cache_.Admit(q, Key(1), "8849 m", 100).admit);
  cache_.RecordVerification(q, Key(1), 0.9f, true);
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
  const PreparedQuery q = Prepare(Chat("What is a monad?"));
  ASSERT_TRUE(cache_.Admit(q, Key(1), "A monoid.", 100).admit);
  EXPECT_TRUE(cache_.Contains(Key(1)));
  ExploreDecision d = cache_.DecideExplore(q, Key(1), 0.9f);
  EXPECT_TRUE(d.explore);  // no evidence yet: verified, not served
  EXPECT_DOUBLE_EQ(d.decision.explore_probability, 1);
  EXPECT_FALSE(d.audit);
  EXPECT_TRUE(cache_.Remove(Key(1)));
  EXPECT_FALSE(cache_.Remove(Key(1)));
  EXPECT_EQ(cache_.partitions(), 0u);
}

TEST_F(SemanticCacheTest, EvidenceFromOtherEntriesProvesANewOne) {
  // Each entry verified once (as when every question is reworded only once): no entry alone can
  // reach the bound, the pool of all their outcomes can.
  const PreparedQuery q = Prepare(Chat("What is a monad?"));
  for (uint8_t i = 1; i <= 80; ++i) cache_.RecordVerification(q, Key(i), 0.91f, true);
  EXPECT_EQ(cache_.pooled_observations(), 80);
  ASSERT_TRUE(cache_.Admit(q, Key(200), "A monoid.", 100).admit);
  ExploreDecision d = cache_.DecideExplore(q, Key(200), 0.92f);
  EXPECT_TRUE(d.decision.confident);
  EXPECT_EQ(d.decision.entry.informative, 0);
  EXPECT_EQ(d.decision.pooled.informative, 80);
  // Below the pooled evidence nothing vouches: verified.
  EXPECT_TRUE(cache_.DecideExplore(q, Key(200), 0.8f).explore);
  // The entry's own wrong answer at a closer match overrides the pool.
  cache_.RecordVerification(q, Key(200), 0.95f, false);
  EXPECT_TRUE(cache_.DecideExplore(q, Key(200), 0.92f).explore);
  EXPECT_EQ(cache_.pooled_observations(), 81);
}

TEST_F(SemanticCacheTest, EvidenceIsPooledPerTenantAndModel) {
  const PreparedQuery mine = Prepare(Chat("What is a monad?"), "tenant-a");
  for (uint8_t i = 1; i <= 80; ++i) cache_.RecordVerification(mine, Key(i), 0.91f, true);
  ASSERT_TRUE(cache_.Admit(mine, Key(200), "A monoid.", 100).admit);
  EXPECT_TRUE(cache_.DecideExplore(mine, Key(200), 0.92f).decision.confident);
  // Another tenant's request, or the same tenant asking another model, has no evidence of its own.
  const PreparedQuery theirs = Prepare(Chat("What is a monad?"), "tenant-b");
  EXPECT_NE(theirs.pool, mine.pool);
  EXPECT_FALSE(cache_.DecideExplore(theirs, Key(200), 0.92f).decision.confident);
  const PreparedQuery other_model = Prepare(
      *json::Parse(R"({"model":"m2","messages":[{"role":"user","content":"x?"}]})"), "tenant-a");
  EXPECT_NE(other_model.pool, mine.pool);
  EXPECT_FALSE(cache_.DecideExplore(other_model, Key(200), 0.92f).decision.confident);
  EXPECT_EQ(cache_.evidence_pools(), 1u);
  // The pool does not depend on the question or the context: another request of the same tenant
  // and model shares it.
  EXPECT_EQ(Prepare(Chat("Explain monads", "Be brief."), "tenant-a").pool, mine.pool);
}

TEST_F(SemanticCacheTest, RestoredObservationsRejoinThePool) {
  const PreparedQuery q = Prepare(Chat("What is a monad?"));
  ASSERT_TRUE(cache_.Admit(q, Key(1), "A monoid.", 100).admit);
  for (int i = 0; i < 5; ++i) cache_.RecordVerification(q, Key(1), 0.9f, true);
  SemanticCache restored(Options(), Embedder());
  ASSERT_TRUE(restored.Restore(cache_.Snapshot()).ok());
  EXPECT_EQ(restored.pooled_observations(), 5);
  EXPECT_EQ(restored.evidence_pools(), 1u);
}

}  // namespace
}  // namespace deja::semantic
