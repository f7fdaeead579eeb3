// Size-capped LMDB stores: which entries eviction picks, and that the cap holds.
#include <memory>

#include "deja/store.h"
#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace deja {
namespace {

using testing::KeyFor;
using testing::MakeEntry;

// Entries 100..999 all have the same encoded size (three-digit numbers everywhere).
constexpr int kBase = 100;

class LmdbEvictionTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(int64_t cap, const std::string& policy) {
    StoreOptions o;
    o.data_dir = dir_.path();
    o.map_size_bytes = int64_t{64} << 20;
    o.max_bytes = cap;
    o.eviction = policy;
    o.clock = &clock_;
    StatusOr<std::unique_ptr<Store>> s = OpenLmdbStore(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // Encoded size of one test entry, measured through an uncapped store in another directory.
  int64_t EntrySize() {
    testing::ScratchDir other;
    StoreOptions o;
    o.data_dir = other.path();
    o.map_size_bytes = int64_t{8} << 20;
    auto s = OpenLmdbStore(o);
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE((*s)->Put(MakeEntry(kBase, 1000)).ok());
    return (*s)->Peek(KeyFor(kBase))->meta.size_bytes;
  }
  bool Has(Store* s, int i) { return s->Peek(KeyFor(i)).ok(); }

  testing::ScratchDir dir_;
  FakeClock clock_;
};

TEST_F(LmdbEvictionTest, LruEvictsLeastRecentlyUsed) {
  const int64_t size = EntrySize();
  auto store = Open(10 * size + size / 2, "lru");  // room for exactly 10
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->Put(MakeEntry(kBase + i, 1000)).ok());
    clock_.Advance(1000);
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Get(KeyFor(kBase + i)).ok());  // 0..4 now recent
  clock_.Advance(1000);
  for (int i = 10; i < 15; ++i) ASSERT_TRUE(store->Put(MakeEntry(kBase + i, 1000)).ok());
  // With fewer entries than one sample, sampling sees everything, so the choice is exact.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Has(store.get(), kBase + i)) << i;
  for (int i = 5; i < 10; ++i) EXPECT_FALSE(Has(store.get(), kBase + i)) << i;
  for (int i = 10; i < 15; ++i) EXPECT_TRUE(Has(store.get(), kBase + i)) << i;
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->entries, 10);
  EXPECT_EQ(st->evictions, 5);
  EXPECT_EQ(st->expirations, 0);
  EXPECT_LE(st->bytes, st->capacity_bytes);
}

TEST_F(LmdbEvictionTest, LfuEvictsLeastFrequentlyUsed) {
  const int64_t size = EntrySize();
  auto store = Open(4 * size + size / 2, "lfu");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(store->Put(MakeEntry(kBase + i, 1000)).ok());
  // Hits: entry 0 -> 3, 1 -> 1 (the most recent), 2 -> 2, 3 -> 0.
  for (int i : {0, 0, 0, 2, 2}) ASSERT_TRUE(store->Get(KeyFor(kBase + i)).ok());
  clock_.Advance(1000);
  ASSERT_TRUE(store->Get(KeyFor(kBase + 1)).ok());
  ASSERT_TRUE(store->Put(MakeEntry(kBase + 10, 1000)).ok());
  EXPECT_FALSE(Has(store.get(), kBase + 3));  // zero hits
  ASSERT_TRUE(store->Put(MakeEntry(kBase + 11, 1000)).ok());
  EXPECT_FALSE(Has(store.get(), kBase + 10));  // new, zero hits, though the most recent
  ASSERT_TRUE(store->Put(MakeEntry(kBase + 12, 1000)).ok());
  EXPECT_FALSE(Has(store.get(), kBase + 11));
  EXPECT_TRUE(Has(store.get(), kBase + 0));
  EXPECT_TRUE(Has(store.get(), kBase + 1));
  EXPECT_TRUE(Has(store.get(), kBase + 2));
}

// An entry whose miss would cost `tokens` output tokens.
Entry Costing(int i, int64_t tokens) {
  Entry e = MakeEntry(kBase + i, 1000);
  e.meta.input_tokens = 0;
  e.meta.output_tokens = tokens;
  return e;
}

TEST_F(LmdbEvictionTest, CostEvictsTheCheapestPerByteAndHitRate) {
  const int64_t size = EntrySize();
  auto store = Open(4 * size + size / 2, "cost");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->Put(Costing(i, 500)).ok());
  clock_.Advance(1000);
  ASSERT_TRUE(store->Put(Costing(3, 5)).ok());  // the newest, but cheap
  clock_.Advance(1000);
  ASSERT_TRUE(store->Put(Costing(4, 500)).ok());
  // LRU would drop entry 0 (the oldest); cost drops the cheap one.
  EXPECT_FALSE(Has(store.get(), kBase + 3));
  for (int i : {0, 1, 2, 4}) EXPECT_TRUE(Has(store.get(), kBase + i)) << i;
  // Equal cost and size: hits per second of age decide. 0 and 1 are read, 2 is not; 4 is younger.
  for (int i : {0, 0, 1, 1}) ASSERT_TRUE(store->Get(KeyFor(kBase + i)).ok());
  clock_.Advance(1000);
  ASSERT_TRUE(store->Put(Costing(5, 500)).ok());
  EXPECT_FALSE(Has(store.get(), kBase + 2));
  for (int i : {0, 1, 4, 5}) EXPECT_TRUE(Has(store.get(), kBase + i)) << i;
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->evictions, 2);
  EXPECT_LE(st->bytes, st->capacity_bytes);
}

TEST_F(LmdbEvictionTest, ExpiredEntriesGoFirstAndCountAsExpirations) {
  const int64_t size = EntrySize();
  auto store = Open(3 * size + size / 2, "lru");
  Entry doomed = MakeEntry(kBase + 2, 1000);
  doomed.meta.expires_at_ms = clock_.NowMillis() + 10;
  ASSERT_TRUE(store->Put(MakeEntry(kBase, 1000)).ok());
  ASSERT_TRUE(store->Put(MakeEntry(kBase + 1, 1000)).ok());
  clock_.Advance(5);
  ASSERT_TRUE(store->Put(doomed).ok());  // the most recent, but it expires
  clock_.Advance(100);
  ASSERT_TRUE(store->Put(MakeEntry(kBase + 3, 1000)).ok());
  EXPECT_TRUE(Has(store.get(), kBase));
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->expirations, 1);
  EXPECT_EQ(st->evictions, 0);
  EXPECT_EQ(st->entries, 3);
}

TEST_F(LmdbEvictionTest, EntryLargerThanCapIsRejected) {
  auto store = Open(2000, "lru");
  Status s = store->Put(MakeEntry(kBase, 5000));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("size cap"), std::string::npos);
  EXPECT_EQ(store->Stats()->entries, 0);
}

TEST_F(LmdbEvictionTest, SampledLruKeepsHotSetAndCapAtScale) {
  const int64_t size = EntrySize();
  constexpr int kCapEntries = 100, kHot = 20, kPuts = 400;
  auto store = Open(kCapEntries * size, "lru");
  for (int i = 0; i < kPuts; ++i) {
    clock_.Advance(1000);
    ASSERT_TRUE(store->Put(MakeEntry(kBase + i, 1000)).ok());
    if (i >= kHot) {  // keep the first kHot entries hot
      for (int h = 0; h < kHot; ++h)
        ASSERT_TRUE(store->Get(KeyFor(kBase + h)).ok()) << h << " " << i;
    }
    if (i % 100 == 0) {
      ASSERT_LE(store->Stats()->bytes, kCapEntries * size);
    }
  }
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_LE(st->bytes, kCapEntries * size);
  EXPECT_EQ(st->entries, kCapEntries);
  EXPECT_EQ(st->evictions, kPuts - kCapEntries);
  int hot_alive = 0;
  for (int h = 0; h < kHot; ++h) hot_alive += Has(store.get(), kBase + h);
  EXPECT_EQ(hot_alive, kHot);
}

}  // namespace
}  // namespace deja
