#include "store/hit_table.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace deja {
namespace {

TEST(HitTableTest, AddPeekEraseDrain) {
  HitTable t;
  int64_t total = 0;
  HitTable::Pending p = t.Add(testing::KeyFor(1), 100, &total);
  EXPECT_EQ(p.count, 1);
  p = t.Add(testing::KeyFor(1), 90, &total);  // an older clock reading never moves last_hit back
  EXPECT_EQ(p.count, 2);
  EXPECT_EQ(p.last_hit_ms, 100);
  t.Add(testing::KeyFor(2), 200, &total);
  EXPECT_EQ(total, 3);
  EXPECT_EQ(t.Peek(testing::KeyFor(2)).count, 1);
  EXPECT_EQ(t.Peek(testing::KeyFor(3)).count, 0);
  t.Erase(testing::KeyFor(2));
  EXPECT_EQ(t.Peek(testing::KeyFor(2)).count, 0);
  HitTable::Batch b = t.Drain();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].first, testing::KeyFor(1));
  EXPECT_EQ(b[0].second.count, 2);
  EXPECT_EQ(t.Peek(testing::KeyFor(1)).count, 0);
  t.Add(testing::KeyFor(1), 300, &total);
  EXPECT_EQ(total, 1);  // counting restarts after a drain
  t.Restore(b);
  EXPECT_EQ(t.Peek(testing::KeyFor(1)).count, 3);
  EXPECT_EQ(t.Peek(testing::KeyFor(1)).last_hit_ms, 300);
}

TEST(HitTableTest, ConcurrentAddsAllCounted) {
  HitTable t;
  constexpr int kThreads = 8, kPerThread = 5000, kKeys = 37;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&t, i] {
      int64_t total;
      for (int j = 0; j < kPerThread; ++j) t.Add(testing::KeyFor((i + j) % kKeys), j, &total);
    });
  }
  for (auto& th : threads) th.join();
  int64_t sum = 0;
  for (const auto& [key, p] : t.Drain()) sum += p.count;
  EXPECT_EQ(sum, kThreads * kPerThread);
}

}  // namespace
}  // namespace deja
