#include "store/eviction.h"

#include <cmath>

#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace deja {
namespace {

EntryMeta Meta(int64_t created, int64_t last_hit, int64_t hits) {
  EntryMeta m;
  m.created_at_ms = created;
  m.last_hit_at_ms = last_hit;
  m.hit_count = hits;
  return m;
}

TEST(EvictionPolicyTest, LruPrefersOldestAccess) {
  auto lru = MakeLruPolicy();
  EXPECT_EQ(lru->name(), "lru");
  // Never read, written at 100, is older than read at 200 even though created earlier.
  EXPECT_LT(lru->Score(Meta(100, 0, 0)), lru->Score(Meta(50, 200, 1)));
  // Hit count does not matter to LRU.
  EXPECT_LT(lru->Score(Meta(10, 300, 1000)), lru->Score(Meta(10, 400, 1)));
}

TEST(EvictionPolicyTest, LfuPrefersFewestHitsThenOldest) {
  auto lfu = MakeLfuPolicy();
  EXPECT_EQ(lfu->name(), "lfu");
  const int64_t now = 1'700'000'000'000;
  EXPECT_LT(lfu->Score(Meta(now, now + 100, 1)), lfu->Score(Meta(now - 1000, now - 1000, 2)));
  EXPECT_LT(lfu->Score(Meta(now, now + 1, 5)), lfu->Score(Meta(now, now + 2, 5)));
}

EntryMeta CostMeta(int64_t created, int64_t hits, int64_t in, int64_t out, int64_t size,
                   int64_t latency_us = 0) {
  EntryMeta m = Meta(created, 0, hits);
  m.input_tokens = in;
  m.output_tokens = out;
  m.size_bytes = size;
  m.upstream_latency_us = latency_us;
  return m;
}

class CostPolicyTest : public ::testing::Test {
 protected:
  int64_t Ago(int64_t ms) const { return clock_.NowMillis() - ms; }
  double Score(const EntryMeta& m) const { return cost_->Score(m); }
  FakeClock clock_;
  std::unique_ptr<EvictionPolicy> cost_ = MakeCostPolicy(&clock_);
};

TEST_F(CostPolicyTest, CheapLargeGoesBeforeExpensiveSmall) {
  EXPECT_EQ(cost_->name(), "cost");
  // Same age and hits: 50 tokens in 40 kB goes before 2000 tokens in 2 kB.
  EXPECT_LT(Score(CostMeta(Ago(60'000), 3, 40, 10, 40'000)),
            Score(CostMeta(Ago(60'000), 3, 1000, 250, 2'000)));
  // Size alone: the same answer twice as large goes first.
  EXPECT_LT(Score(CostMeta(Ago(1000), 0, 100, 100, 2'000)),
            Score(CostMeta(Ago(1000), 0, 100, 100, 1'000)));
}

TEST_F(CostPolicyTest, OldNeverHitGoesBeforeYoungNeverHit) {
  EXPECT_LT(Score(CostMeta(Ago(3'600'000), 0, 100, 100, 1'000)),
            Score(CostMeta(Ago(60'000), 0, 100, 100, 1'000)));
}

TEST_F(CostPolicyTest, HitRateNotHitCountDecides) {
  // Hyperbolic: 10 hits in a day is a lower rate than none in ten seconds...
  EXPECT_LT(Score(CostMeta(Ago(86'400'000), 10, 100, 100, 1'000)),
            Score(CostMeta(Ago(10'000), 0, 100, 100, 1'000)));
  // ...while 100 hits in a minute beats it, and so do more hits at the same age.
  EXPECT_GT(Score(CostMeta(Ago(60'000), 100, 100, 100, 1'000)),
            Score(CostMeta(Ago(10'000), 0, 100, 100, 1'000)));
  EXPECT_LT(Score(CostMeta(Ago(60'000), 1, 100, 100, 1'000)),
            Score(CostMeta(Ago(60'000), 2, 100, 100, 1'000)));
}

TEST_F(CostPolicyTest, OutputTokensWeighFourTimesInput) {
  // 300 input tokens (cost 300) goes before 100 output tokens (cost 400)...
  EXPECT_LT(Score(CostMeta(Ago(1000), 0, 300, 0, 1'000)),
            Score(CostMeta(Ago(1000), 0, 0, 100, 1'000)));
  // ...and 500 input tokens (cost 500) stays longer.
  EXPECT_GT(Score(CostMeta(Ago(1000), 0, 500, 0, 1'000)),
            Score(CostMeta(Ago(1000), 0, 0, 100, 1'000)));
}

TEST_F(CostPolicyTest, WithoutTokensLatencyStandsInAndCostNeverDropsBelowOne) {
  // No usage reported: 2 s upstream (cost 400) outlives 10 input tokens (cost 10).
  EXPECT_GT(Score(CostMeta(Ago(1000), 0, 0, 0, 1'000, 2'000'000)),
            Score(CostMeta(Ago(1000), 0, 10, 0, 1'000)));
  // Nothing known at all: cost 1, a finite positive score (equal to one input token's).
  const double unknown = Score(CostMeta(Ago(1000), 0, 0, 0, 1'000));
  EXPECT_GT(unknown, 0);
  EXPECT_DOUBLE_EQ(unknown, Score(CostMeta(Ago(1000), 0, 1, 0, 1'000)));
  // An entry written this very millisecond, or with an unknown size, still scores finitely.
  EXPECT_TRUE(std::isfinite(Score(CostMeta(clock_.NowMillis(), 0, 10, 10, 0))));
}

TEST_F(CostPolicyTest, AgesWithTheClock) {
  const EntryMeta m = CostMeta(clock_.NowMillis(), 0, 100, 100, 1'000);
  const double young = Score(m);
  clock_.Advance(60'000);
  EXPECT_LT(Score(m), young);
}

TEST(EvictionPolicyTest, FactoryByName) {
  auto lru = MakeEvictionPolicy("lru");
  ASSERT_TRUE(lru.ok());
  EXPECT_EQ((*lru)->name(), "lru");
  auto lfu = MakeEvictionPolicy("lfu");
  ASSERT_TRUE(lfu.ok());
  EXPECT_EQ((*lfu)->name(), "lfu");
  FakeClock clock;
  auto cost = MakeEvictionPolicy("cost", &clock);
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ((*cost)->name(), "cost");
  auto bad = MakeEvictionPolicy("fifo");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(EvictionPoolTest, KeepsLowestScoresInOrder) {
  EvictionPool pool(3);
  pool.Offer(testing::KeyFor(1), 50);
  pool.Offer(testing::KeyFor(2), 10);
  pool.Offer(testing::KeyFor(3), 30);
  pool.Offer(testing::KeyFor(4), 40);  // displaces 50
  pool.Offer(testing::KeyFor(5), 90);  // worse than all: ignored
  pool.Offer(testing::KeyFor(2), 5);   // already pooled: ignored
  EXPECT_EQ(pool.size(), 3u);
  auto a = pool.PopLowest(), b = pool.PopLowest(), c = pool.PopLowest();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->key, testing::KeyFor(2));
  EXPECT_EQ(a->score, 10);
  EXPECT_EQ(b->key, testing::KeyFor(3));
  EXPECT_EQ(c->key, testing::KeyFor(4));
  EXPECT_FALSE(pool.PopLowest());
}

TEST(EvictionPoolTest, Remove) {
  EvictionPool pool(4);
  pool.Offer(testing::KeyFor(1), 1);
  pool.Offer(testing::KeyFor(2), 2);
  pool.Remove(testing::KeyFor(1));
  auto a = pool.PopLowest();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->key, testing::KeyFor(2));
}

}  // namespace
}  // namespace deja
