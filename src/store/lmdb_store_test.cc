// Functional tests of the LMDB engine through the Store interface: round trips, hits, TTL, delete,
// stats, errors. Scans/purges, eviction, concurrency and crash safety have their own files.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "deja/store.h"
#include "gtest/gtest.h"
#include "store/lmdb_store.h"
#include "store/store_test_util.h"

namespace deja {
namespace {

using testing::MakeEntry;
using testing::SameContent;

class LmdbStoreTest : public ::testing::Test {
 protected:
  StoreOptions Options() {
    StoreOptions o;
    o.data_dir = dir_.path() + "/data";
    o.map_size_bytes = int64_t{64} << 20;
    o.clock = &clock_;
    return o;
  }
  std::unique_ptr<Store> Open(const StoreOptions& o) {
    StatusOr<std::unique_ptr<Store>> s = OpenLmdbStore(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<Store> Open() { return Open(Options()); }

  testing::ScratchDir dir_;
  FakeClock clock_;
};

TEST_F(LmdbStoreTest, PutThenGetRoundTrips) {
  std::filesystem::create_directories(Options().data_dir);
  std::ofstream(Options().data_dir + "/config.toml") << "# other files live here too\n";
  auto store = Open();
  ASSERT_TRUE(store);
  Entry e = MakeEntry(1, 4096, "team", "gpt-4o");
  e.response.streamed = true;
  e.response.events = {{"", "{\"delta\":\"hi\"}"}, {"done", "[DONE]"}};
  ASSERT_TRUE(store->Put(e).ok());
  EXPECT_TRUE(std::filesystem::exists(Options().data_dir + "/store/data.mdb"));
  EXPECT_TRUE(std::filesystem::exists(Options().data_dir + "/config.toml"));

  StatusOr<Entry> got = store->Get(e.key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(SameContent(*got, e));
  EXPECT_EQ(got->meta.created_at_ms, clock_.NowMillis());  // filled in because it was 0
  EXPECT_GT(got->meta.size_bytes, 4096 + 32);
  EXPECT_EQ(got->meta.hit_count, 1);
  EXPECT_EQ(got->meta.last_hit_at_ms, clock_.NowMillis());
}

TEST_F(LmdbStoreTest, KeepsCallerCreatedAt) {
  auto store = Open();
  Entry e = MakeEntry(1);
  e.meta.created_at_ms = 12345;
  ASSERT_TRUE(store->Put(e).ok());
  EXPECT_EQ(store->Peek(e.key)->meta.created_at_ms, 12345);
}

TEST_F(LmdbStoreTest, MissIsNotFound) {
  auto store = Open();
  StatusOr<Entry> got = store->Get(testing::KeyFor(99));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Peek(testing::KeyFor(99)).status().code(), StatusCode::kNotFound);
}

TEST_F(LmdbStoreTest, PeekIncludesPendingHitsButDoesNotCount) {
  auto store = Open();
  Entry e = MakeEntry(1);
  ASSERT_TRUE(store->Put(e).ok());
  EXPECT_EQ(store->Peek(e.key)->meta.hit_count, 0);
  EXPECT_EQ(store->Get(e.key)->meta.hit_count, 1);
  EXPECT_EQ(store->Peek(e.key)->meta.hit_count, 1);
  EXPECT_EQ(store->Get(e.key)->meta.hit_count, 2);
}

TEST_F(LmdbStoreTest, FlushedHitsPersistAcrossReopen) {
  Entry e = MakeEntry(1);
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(e).ok());
    for (int i = 0; i < 3; ++i) {
      clock_.Advance(10);
      ASSERT_TRUE(store->Get(e.key).ok());
    }
    ASSERT_TRUE(store->FlushHits().ok());
    EXPECT_EQ(store->Peek(e.key)->meta.hit_count, 3);  // not double-counted after the flush
    ASSERT_TRUE(store->Get(e.key).ok());               // pending at close: flushed on destruction
  }
  auto store = Open();
  StatusOr<Entry> got = store->Peek(e.key);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->meta.hit_count, 4);
  EXPECT_EQ(got->meta.last_hit_at_ms, clock_.NowMillis());
}

TEST_F(LmdbStoreTest, BackgroundFlushStartsAtBatchSize) {
  StoreOptions o = Options();
  o.hit_flush_batch = 4;
  auto store = Open(o);
  auto* lmdb_store = static_cast<LmdbStore*>(store.get());
  Entry e = MakeEntry(1);
  ASSERT_TRUE(store->Put(e).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->Get(e.key).ok());
  EXPECT_EQ(lmdb_store->hit_flushes(), 0);  // below the batch size nothing is requested
  ASSERT_TRUE(store->Get(e.key).ok());
  // A condition wait, not a sleep: returns as soon as the flusher has committed.
  ASSERT_TRUE(lmdb_store->AwaitHitFlushes(1, std::chrono::seconds(30)));
  EXPECT_EQ(store->Peek(e.key)->meta.hit_count, 4);
}

TEST_F(LmdbStoreTest, ReplacingAnEntryDropsItsPendingHits) {
  auto store = Open();
  Entry e = MakeEntry(1);
  ASSERT_TRUE(store->Put(e).ok());
  ASSERT_TRUE(store->Get(e.key).ok());
  ASSERT_TRUE(store->Get(e.key).ok());
  e.response.body = "new answer";
  ASSERT_TRUE(store->Put(e).ok());
  ASSERT_TRUE(store->FlushHits().ok());
  StatusOr<Entry> got = store->Peek(e.key);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->meta.hit_count, 0);
  EXPECT_EQ(got->response.body, "new answer");
}

TEST_F(LmdbStoreTest, ExpiredEntriesAreMissesAndSwept) {
  auto store = Open();
  Entry short_lived = MakeEntry(1), forever = MakeEntry(2);
  short_lived.meta.expires_at_ms = clock_.NowMillis() + 1000;
  ASSERT_TRUE(store->Put(short_lived).ok());
  ASSERT_TRUE(store->Put(forever).ok());
  clock_.Advance(999);
  EXPECT_TRUE(store->Get(short_lived.key).ok());
  clock_.Advance(1);
  EXPECT_EQ(store->Get(short_lived.key).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Peek(short_lived.key).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->Get(forever.key).ok());

  int visible = 0, all = 0;
  ASSERT_TRUE(store->Scan({}, [&](const Entry&) { return ++visible, true; }).ok());
  ScanOptions with_expired;
  with_expired.include_expired = true;
  ASSERT_TRUE(store->Scan(with_expired, [&](const Entry&) { return ++all, true; }).ok());
  EXPECT_EQ(visible, 1);
  EXPECT_EQ(all, 2);

  StatusOr<int64_t> swept = store->SweepExpired();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1);
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->entries, 1);
  EXPECT_EQ(st->expirations, 1);
  EXPECT_EQ(st->bytes, store->Peek(forever.key)->meta.size_bytes);
  EXPECT_EQ(*store->SweepExpired(), 0);
}

TEST_F(LmdbStoreTest, DeleteRemovesAndReportsMissing) {
  auto store = Open();
  Entry e = MakeEntry(1);
  ASSERT_TRUE(store->Put(e).ok());
  ASSERT_TRUE(store->Delete(e.key).ok());
  EXPECT_EQ(store->Get(e.key).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Delete(e.key).code(), StatusCode::kNotFound);
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->entries, 0);
  EXPECT_EQ(st->bytes, 0);
}

TEST_F(LmdbStoreTest, StatsAddUp) {
  StoreOptions o = Options();
  o.max_bytes = int64_t{1} << 30;
  auto store = Open(o);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Put(MakeEntry(i, 100 * i)).ok());
  ASSERT_TRUE(store->Put(MakeEntry(3, 5000)).ok());  // replacing changes the total, not the count
  int64_t sum = 0, n = 0;
  ScanOptions meta_only;
  meta_only.with_response = false;
  ASSERT_TRUE(store
                  ->Scan(meta_only,
                         [&](const Entry& e) {
                           sum += e.meta.size_bytes;
                           ++n;
                           return true;
                         })
                  .ok());
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->entries, 10);
  EXPECT_EQ(n, 10);
  EXPECT_EQ(st->bytes, sum);
  EXPECT_EQ(st->capacity_bytes, o.max_bytes);
  EXPECT_EQ(st->map_size_bytes, o.map_size_bytes);
  EXPECT_GT(st->map_used_bytes, 0);
  EXPECT_LT(st->map_used_bytes, st->map_size_bytes);
  EXPECT_EQ(st->evictions, 0);
}

TEST_F(LmdbStoreTest, MapFullIsResourceExhaustedAndStoreStaysUsable) {
  StoreOptions o = Options();
  o.map_size_bytes = 1 << 20;
  auto store = Open(o);
  Status s;
  int stored = 0;
  for (; stored < 1000; ++stored) {
    s = store->Put(MakeEntry(stored, 16 * 1024));
    if (!s.ok()) break;
  }
  ASSERT_FALSE(s.ok()) << "a 1 MiB map cannot hold 16 MB";
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find("map"), std::string::npos);
  ASSERT_GT(stored, 0);
  EXPECT_TRUE(SameContent(*store->Get(testing::KeyFor(0)), MakeEntry(0, 16 * 1024)));
  StatusOr<StoreStats> st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->entries, stored);
  for (int i = 0; i < stored; ++i) ASSERT_TRUE(store->Delete(testing::KeyFor(i)).ok());
  EXPECT_TRUE(store->Put(MakeEntry(5000, 1024)).ok());
}

TEST_F(LmdbStoreTest, FileWhereDirectoryShouldBeIsUnavailable) {
  std::string file = dir_.path() + "/not-a-dir";
  std::ofstream(file) << "x";
  StoreOptions o = Options();
  o.data_dir = file;
  StatusOr<std::unique_ptr<Store>> s = OpenLmdbStore(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find(file), std::string::npos) << s.status().message();
}

TEST_F(LmdbStoreTest, UnwritableDirectoryIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root bypasses file permissions";
  std::string locked = dir_.path() + "/locked";
  std::filesystem::create_directories(locked + "/store");
  ASSERT_EQ(::chmod((locked + "/store").c_str(), 0500), 0);
  StoreOptions o = Options();
  o.data_dir = locked;
  StatusOr<std::unique_ptr<Store>> s = OpenLmdbStore(o);
  ::chmod((locked + "/store").c_str(), 0700);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied) << s.status().ToString();
  EXPECT_NE(s.status().message().find("not readable and writable"), std::string::npos);
}

TEST_F(LmdbStoreTest, SecondOpenInOneProcessIsRefusedUntilClosed) {
  auto first = Open();
  ASSERT_TRUE(first);
  StatusOr<std::unique_ptr<Store>> second = OpenLmdbStore(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  StoreOptions via_other_spelling = Options();
  via_other_spelling.data_dir = dir_.path() + "/./data/";
  EXPECT_EQ(OpenLmdbStore(via_other_spelling).status().code(), StatusCode::kFailedPrecondition);
  first.reset();
  EXPECT_TRUE(OpenLmdbStore(Options()).ok());
}

TEST_F(LmdbStoreTest, RejectsBadOptions) {
  StoreOptions o = Options();
  o.eviction = "fifo";
  EXPECT_EQ(OpenLmdbStore(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.map_size_bytes = 0;
  EXPECT_EQ(OpenLmdbStore(o).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(LmdbStoreTest, CorruptRecordIsDataLossNotACrash) {
  Entry e = MakeEntry(1);
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(e).ok());
  }
  {  // Overwrite the meta record behind the store's back.
    MDB_env* env;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 4), 0);
    ASSERT_EQ(mdb_env_open(env, (Options().data_dir + "/store").c_str(), 0, 0644), 0);
    MDB_txn* txn;
    MDB_dbi dbi;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = lmdb::Val(e.key.View()), v = lmdb::Val("M\x01garbage");
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto store = Open();
  StatusOr<Entry> got = store->Get(e.key);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find(e.key.Hex()), std::string::npos);
  EXPECT_EQ(store->Scan({}, [](const Entry&) { return true; }).code(), StatusCode::kDataLoss);
  EXPECT_TRUE(store->Delete(e.key).ok());  // a corrupt entry can still be removed
  EXPECT_EQ(store->Stats()->entries, 0);
}

}  // namespace
}  // namespace deja
