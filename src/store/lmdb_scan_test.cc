// Scan and Purge through the LMDB engine: filters, order, batching across transactions.
#include <memory>
#include <set>
#include <vector>

#include "deja/store.h"
#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace deja {
namespace {

using testing::MakeEntry;

class LmdbScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.data_dir = dir_.path();
    o.map_size_bytes = int64_t{256} << 20;
    o.clock = &clock_;
    StatusOr<std::unique_ptr<Store>> s = OpenLmdbStore(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  // Puts entries i in [from, to) with the given namespace/model, one clock second apart.
  void PutRange(int from, int to, const std::string& ns, const std::string& model) {
    for (int i = from; i < to; ++i) {
      ASSERT_TRUE(store_->Put(MakeEntry(i, 64, ns, model)).ok());
      clock_.Advance(1000);
    }
  }
  std::vector<Entry> ScanAll(const ScanOptions& o) {
    std::vector<Entry> out;
    Status s = store_->Scan(o, [&](const Entry& e) {
      out.push_back(e);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  testing::ScratchDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
};

TEST_F(LmdbScanTest, FiltersByNamespaceModelAndAge) {
  PutRange(0, 5, "", "gpt-4o");
  const int64_t cutoff = clock_.NowMillis();
  PutRange(5, 8, "team-a", "gpt-4o");
  PutRange(8, 10, "team-a", "claude");

  ScanOptions o;
  EXPECT_EQ(ScanAll(o).size(), 10u);
  o.filter_namespace = true;  // name_space "" is the default namespace, not "any"
  EXPECT_EQ(ScanAll(o).size(), 5u);
  o.name_space = "team-a";
  EXPECT_EQ(ScanAll(o).size(), 5u);
  o.model = "claude";
  std::vector<Entry> claude = ScanAll(o);
  ASSERT_EQ(claude.size(), 2u);
  for (const Entry& e : claude) EXPECT_EQ(e.meta.model, "claude");

  ScanOptions old;
  old.created_before_ms = cutoff;
  std::vector<Entry> olds = ScanAll(old);
  ASSERT_EQ(olds.size(), 5u);
  for (const Entry& e : olds) EXPECT_LT(e.meta.created_at_ms, cutoff);
}

TEST_F(LmdbScanTest, KeyOrderBodiesOptionalAndEarlyStop) {
  PutRange(0, 20, "", "m");
  std::vector<Entry> all = ScanAll({});
  ASSERT_EQ(all.size(), 20u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].key, all[i].key);
  EXPECT_EQ(all[0].response.body.size(), 64u);

  ScanOptions meta_only;
  meta_only.with_response = false;
  for (const Entry& e : ScanAll(meta_only)) {
    EXPECT_TRUE(e.response.body.empty());
    EXPECT_GT(e.meta.size_bytes, 64);
  }

  int seen = 0;
  ASSERT_TRUE(store_->Scan({}, [&](const Entry&) { return ++seen < 3; }).ok());
  EXPECT_EQ(seen, 3);
}

TEST_F(LmdbScanTest, ScanSpansManyTransactionsWithoutLossOrDuplicates) {
  constexpr int kN = 1500;  // more than one scan transaction holds, with or without bodies
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(store_->Put(MakeEntry(i, 16)).ok());
  for (bool bodies : {false, true}) {
    ScanOptions o;
    o.with_response = bodies;
    std::set<std::string> keys;
    CacheKey prev;
    bool first = true;
    ASSERT_TRUE(store_
                    ->Scan(o,
                           [&](const Entry& e) {
                             EXPECT_TRUE(first || prev < e.key);
                             first = false;
                             prev = e.key;
                             keys.insert(e.key.Hex());
                             return true;
                           })
                    .ok());
    EXPECT_EQ(keys.size(), static_cast<size_t>(kN)) << "bodies=" << bodies;
  }
}

TEST_F(LmdbScanTest, CallbackMayDelete) {
  PutRange(0, 100, "", "m");
  int deleted = 0;
  ASSERT_TRUE(store_
                  ->Scan({},
                         [&](const Entry& e) {
                           if (e.meta.input_tokens % 2 == 0) {
                             EXPECT_TRUE(store_->Delete(e.key).ok());
                             ++deleted;
                           }
                           return true;
                         })
                  .ok());
  EXPECT_EQ(deleted, 50);
  EXPECT_EQ(store_->Stats()->entries, 50);
}

TEST_F(LmdbScanTest, PurgeByNamespaceModelAgeAndAll) {
  PutRange(0, 4, "", "gpt-4o");
  const int64_t cutoff = clock_.NowMillis();
  PutRange(4, 10, "team-a", "gpt-4o");
  PutRange(10, 13, "team-b", "claude");

  ScanOptions by_ns;
  by_ns.filter_namespace = true;
  by_ns.name_space = "team-a";
  EXPECT_EQ(*store_->Purge(by_ns), 6);
  ScanOptions by_model;
  by_model.model = "claude";
  EXPECT_EQ(*store_->Purge(by_model), 3);
  ScanOptions by_age;
  by_age.created_before_ms = cutoff - 1500;  // entries 0..2 were created before this
  EXPECT_EQ(*store_->Purge(by_age), 3);
  StatusOr<StoreStats> st = store_->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->entries, 1);
  EXPECT_EQ(st->bytes, store_->Peek(testing::KeyFor(3))->meta.size_bytes);
  EXPECT_EQ(*store_->Purge({}), 1);
  EXPECT_EQ(store_->Stats()->bytes, 0);
}

TEST_F(LmdbScanTest, PurgeSpansManyTransactions) {
  for (int i = 0; i < 1200; ++i) {
    ASSERT_TRUE(store_->Put(MakeEntry(i, 16, i % 3 == 0 ? "x" : "y", "m")).ok());
  }
  ScanOptions o;
  o.filter_namespace = true;
  o.name_space = "x";
  EXPECT_EQ(*store_->Purge(o), 400);
  EXPECT_EQ(store_->Stats()->entries, 800);
  EXPECT_EQ(*store_->Purge(o), 0);
}

}  // namespace
}  // namespace deja
