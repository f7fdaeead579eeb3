#include "store/eviction.h"

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

TEST(EvictionPolicyTest, FactoryByName) {
  auto lru = MakeEvictionPolicy("lru");
  ASSERT_TRUE(lru.ok());
  EXPECT_EQ((*lru)->name(), "lru");
  auto lfu = MakeEvictionPolicy("lfu");
  ASSERT_TRUE(lfu.ok());
  EXPECT_EQ((*lfu)->name(), "lfu");
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
