// Many threads reading and writing one LMDB store at once.
#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "deja/store.h"
#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace deja {
namespace {

using testing::KeyFor;
using testing::MakeEntry;
using testing::SameContent;

TEST(LmdbConcurrencyTest, ParallelGetsAndPutsAddUp) {
  testing::ScratchDir dir;
  FakeClock clock;
  StoreOptions o;
  o.data_dir = dir.path();
  o.map_size_bytes = int64_t{256} << 20;
  o.hit_flush_batch = 97;  // background flushes interleave with the readers
  o.clock = &clock;
  StatusOr<std::unique_ptr<Store>> opened = OpenLmdbStore(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store* store = opened->get();

  constexpr int kShared = 64, kThreads = 8, kIters = 3000, kPutEvery = 50;
  for (int i = 0; i < kShared; ++i) ASSERT_TRUE(store->Put(MakeEntry(i, 300)).ok());

  std::vector<std::vector<int64_t>> gets(kThreads, std::vector<int64_t>(kShared, 0));
  std::atomic<int> errors{0};
  std::atomic<int> puts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int j = 0; j < kIters; ++j) {
        int k = static_cast<int>(rng() % kShared);
        StatusOr<Entry> e = store->Get(KeyFor(k));
        if (e.ok() && SameContent(*e, MakeEntry(k, 300))) {
          ++gets[t][k];
        } else {
          ++errors;
        }
        if (j % kPutEvery == 0) {
          const int own = 1'000'000 + t * kIters + j;  // distinct from every other thread's keys
          if (!store->Put(MakeEntry(own, 100 + j % 500)).ok()) ++errors;
          StatusOr<Entry> back = store->Peek(KeyFor(own));
          if (!back.ok() || !SameContent(*back, MakeEntry(own, 100 + j % 500))) ++errors;
          ++puts;
        }
        if (t == 0 && j % 500 == 0) {  // one thread also runs the maintenance paths
          if (!store->FlushHits().ok() || !store->Stats().ok()) ++errors;
          ScanOptions meta_only;
          meta_only.with_response = false;
          if (!store->Scan(meta_only, [](const Entry&) { return true; }).ok()) ++errors;
        }
        clock.Advance(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);

  ASSERT_TRUE(store->FlushHits().ok());
  int64_t total_gets = 0;
  for (int k = 0; k < kShared; ++k) {
    int64_t want = 0;
    for (int t = 0; t < kThreads; ++t) want += gets[t][k];
    total_gets += want;
    StatusOr<Entry> e = store->Peek(KeyFor(k));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->meta.hit_count, want) << "key " << k;
  }
  EXPECT_EQ(total_gets, int64_t{kThreads} * kIters);
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->entries, kShared + puts.load());
}

}  // namespace
}  // namespace deja
