// The removal listener of the LMDB store (StoreOptions::removal_listener) and StoreRemovalRelay:
// which removals are heard, with which cause, and which are not.
#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "deja/store.h"
#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace deja {
namespace {

using testing::KeyFor;
using testing::MakeEntry;

// Records every notification.
class RecordingListener : public StoreRemovalListener {
 public:
  struct Event {
    std::vector<CacheKey> keys;
    RemovalCause cause;
  };
  void OnRemoved(std::span<const CacheKey> keys, RemovalCause cause) override {
    std::lock_guard lock(mu_);
    events_.push_back({std::vector<CacheKey>(keys.begin(), keys.end()), cause});
  }
  std::vector<Event> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  // Every key heard with `cause`, in order.
  std::vector<CacheKey> Keys(RemovalCause cause) const {
    std::vector<CacheKey> out;
    for (const Event& e : events()) {
      if (e.cause == cause) out.insert(out.end(), e.keys.begin(), e.keys.end());
    }
    return out;
  }
  size_t TotalKeys() const {
    size_t n = 0;
    for (const Event& e : events()) n += e.keys.size();
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Event> events_;
};

class LmdbRemovalTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(int64_t cap = 0) {
    StoreOptions o;
    o.data_dir = dir_.path();
    o.map_size_bytes = int64_t{64} << 20;
    o.max_bytes = cap;
    o.clock = &clock_;
    o.removal_listener = listener_;
    StatusOr<std::unique_ptr<Store>> s = OpenLmdbStore(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  testing::ScratchDir dir_;
  FakeClock clock_;
  std::shared_ptr<RecordingListener> listener_ = std::make_shared<RecordingListener>();
};

TEST_F(LmdbRemovalTest, DeleteIsHeard) {
  auto store = Open();
  ASSERT_TRUE(store->Put(MakeEntry(1)).ok());
  ASSERT_TRUE(store->Delete(KeyFor(1)).ok());
  ASSERT_EQ(listener_->events().size(), 1u);
  EXPECT_EQ(listener_->events()[0].cause, RemovalCause::kDeleted);
  EXPECT_EQ(listener_->events()[0].keys, std::vector<CacheKey>{KeyFor(1)});
  // Deleting what is absent removes nothing, so nothing is heard.
  EXPECT_EQ(store->Delete(KeyFor(1)).code(), StatusCode::kNotFound);
  EXPECT_EQ(listener_->events().size(), 1u);
}

// Reads the store from inside the notification: the removal must already be committed.
class PeekingListener : public StoreRemovalListener {
 public:
  void OnRemoved(std::span<const CacheKey> keys, RemovalCause) override {
    for (const CacheKey& k : keys) {
      (store->Peek(k).status().code() == StatusCode::kNotFound ? gone : present)++;
    }
  }
  Store* store = nullptr;
  int gone = 0, present = 0;
};

TEST_F(LmdbRemovalTest, ListenerRunsAfterTheCommit) {
  auto peeking = std::make_shared<PeekingListener>();
  StoreOptions o;
  o.data_dir = dir_.path();
  o.map_size_bytes = int64_t{64} << 20;
  o.removal_listener = peeking;
  auto store = OpenLmdbStore(o);
  ASSERT_TRUE(store.ok());
  peeking->store = store->get();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*store)->Put(MakeEntry(i)).ok());
  ASSERT_TRUE((*store)->Delete(KeyFor(0)).ok());
  ScanOptions all;
  ASSERT_TRUE((*store)->Purge(all).ok());
  EXPECT_EQ(peeking->gone, 3);
  EXPECT_EQ(peeking->present, 0);
}

TEST_F(LmdbRemovalTest, ReplacingPutIsNotARemoval) {
  auto store = Open();
  ASSERT_TRUE(store->Put(MakeEntry(1)).ok());
  ASSERT_TRUE(store->Put(MakeEntry(1, 512)).ok());  // same key, new content
  EXPECT_TRUE(listener_->events().empty());
}

TEST_F(LmdbRemovalTest, PurgeIsHeardWithEveryPurgedKey) {
  auto store = Open();
  // More than one deletion batch (256 per transaction), so several notifications.
  constexpr int kPurged = 270, kKept = 10;
  for (int i = 0; i < kPurged + kKept; ++i) {
    ASSERT_TRUE(store->Put(MakeEntry(i, 16, i < kPurged ? "purged" : "kept")).ok());
  }
  ScanOptions only_purged;
  only_purged.filter_namespace = true;
  only_purged.name_space = "purged";
  StatusOr<int64_t> purged = store->Purge(only_purged);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, kPurged);
  std::vector<CacheKey> heard = listener_->Keys(RemovalCause::kPurged);
  EXPECT_EQ(listener_->TotalKeys(), static_cast<size_t>(kPurged));
  EXPECT_GT(listener_->events().size(), 1u);
  std::sort(heard.begin(), heard.end());
  std::vector<CacheKey> want;
  for (int i = 0; i < kPurged; ++i) want.push_back(KeyFor(i));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(heard, want);
}

TEST_F(LmdbRemovalTest, SweepExpiredIsHeardAsExpired) {
  auto store = Open();
  Entry doomed = MakeEntry(1);
  doomed.meta.expires_at_ms = clock_.NowMillis() + 10;
  ASSERT_TRUE(store->Put(doomed).ok());
  ASSERT_TRUE(store->Put(MakeEntry(2)).ok());
  clock_.Advance(20);
  // Get does not delete an expired entry, so nothing is heard until the sweep.
  EXPECT_EQ(store->Get(KeyFor(1)).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(listener_->events().empty());
  StatusOr<int64_t> swept = store->SweepExpired();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1);
  EXPECT_EQ(listener_->Keys(RemovalCause::kExpired), std::vector<CacheKey>{KeyFor(1)});
  EXPECT_EQ(listener_->TotalKeys(), 1u);
  // Nothing left to sweep: nothing heard.
  ASSERT_TRUE(store->SweepExpired().ok());
  EXPECT_EQ(listener_->events().size(), 1u);
}

TEST_F(LmdbRemovalTest, EvictionIsHeardWithItsCause) {
  // Measure one entry's size, then cap the store at three and a half of them.
  int64_t size = 0;
  {
    testing::ScratchDir other;
    StoreOptions o;
    o.data_dir = other.path();
    o.map_size_bytes = int64_t{8} << 20;
    auto s = OpenLmdbStore(o);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Put(MakeEntry(100, 1000)).ok());
    size = (*s)->Peek(KeyFor(100))->meta.size_bytes;
  }
  auto store = Open(3 * size + size / 2);
  Entry doomed = MakeEntry(102, 1000);
  doomed.meta.expires_at_ms = clock_.NowMillis() + 10;
  ASSERT_TRUE(store->Put(MakeEntry(100, 1000)).ok());
  clock_.Advance(1);
  ASSERT_TRUE(store->Put(MakeEntry(101, 1000)).ok());
  ASSERT_TRUE(store->Put(doomed).ok());
  clock_.Advance(100);
  // Over the cap: the expired entry goes first, heard as expired.
  ASSERT_TRUE(store->Put(MakeEntry(103, 1000)).ok());
  EXPECT_EQ(listener_->Keys(RemovalCause::kExpired), std::vector<CacheKey>{KeyFor(102)});
  EXPECT_TRUE(listener_->Keys(RemovalCause::kEvicted).empty());
  // Over again: the least recently used live entry (100) is evicted.
  ASSERT_TRUE(store->Put(MakeEntry(104, 1000)).ok());
  EXPECT_EQ(listener_->Keys(RemovalCause::kEvicted), std::vector<CacheKey>{KeyFor(100)});
  EXPECT_EQ(listener_->TotalKeys(), 2u);
  EXPECT_EQ(store->Peek(KeyFor(100)).status().code(), StatusCode::kNotFound);
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->evictions, 1);
  EXPECT_EQ(st->expirations, 1);
}

TEST(StoreRemovalRelayTest, ForwardsOnlyWhileATargetIsAttached) {
  StoreRemovalRelay relay;
  RecordingListener target;
  const CacheKey k = KeyFor(7);
  relay.OnRemoved(std::span<const CacheKey>(&k, 1), RemovalCause::kDeleted);  // dropped
  relay.SetTarget(&target);
  relay.OnRemoved(std::span<const CacheKey>(&k, 1), RemovalCause::kEvicted);
  relay.SetTarget(nullptr);
  relay.OnRemoved(std::span<const CacheKey>(&k, 1), RemovalCause::kPurged);  // dropped
  ASSERT_EQ(target.events().size(), 1u);
  EXPECT_EQ(target.events()[0].cause, RemovalCause::kEvicted);
  EXPECT_EQ(target.events()[0].keys, std::vector<CacheKey>{k});
}

TEST(StoreRemovalRelayTest, CauseNames) {
  EXPECT_EQ(RemovalCauseName(RemovalCause::kDeleted), "deleted");
  EXPECT_EQ(RemovalCauseName(RemovalCause::kPurged), "purged");
  EXPECT_EQ(RemovalCauseName(RemovalCause::kExpired), "expired");
  EXPECT_EQ(RemovalCauseName(RemovalCause::kEvicted), "evicted");
}

}  // namespace
}  // namespace deja
