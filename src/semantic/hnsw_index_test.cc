#include "semantic/hnsw_index.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unordered_set>

#include "gtest/gtest.h"
#include "semantic/flat_index.h"
#include "semantic/vector_index_test_util.h"

namespace deja {
namespace {

using testing::ConcurrentChurn;
using testing::Dot;
using testing::RandomUnitVectors;
using testing::Recall;
using testing::Row;
using testing::RunConcurrentSearchAddRemove;

IndexOptions Hnsw(int dims, size_t max_elements = 1024) {
  IndexOptions o;
  o.kind = "hnsw";
  o.dimensions = dims;
  o.max_elements = max_elements;
  return o;
}

std::unique_ptr<VectorIndex> Make(const IndexOptions& o) {
  auto index = MakeIndex(o);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return std::move(*index);
}

std::vector<uint64_t> Iota(size_t n, uint64_t first = 0) {
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = first + i;
  return ids;
}

class TempDir {
 public:
  explicit TempDir(const char* name) : path_(std::filesystem::path(::testing::TempDir()) / name) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const char* name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The headline check: HNSW finds >= 95% of the exact top 10 on 20k random 64-d unit vectors.
TEST(HnswIndexTest, RecallAgainstFlat) {
  const int dims = 64;
  const size_t n = 20000, nq = 200, k = 10;
  std::vector<float> v = RandomUnitVectors(n, dims, 1);
  std::vector<float> q = RandomUnitVectors(nq, dims, 2);
  IndexOptions o = Hnsw(dims, n);
  // Random Gaussian directions are the hardest case for a graph index (no low-dimensional
  // structure); ef_construction 100 keeps the build fast, ef_search 300 buys the recall.
  o.ef_construction = 100;
  o.ef_search = 300;
  auto hnsw = Make(o);
  IndexOptions f = o;
  f.kind = "flat";
  auto flat = Make(f);
  const std::vector<uint64_t> ids = Iota(n);
  ASSERT_TRUE(hnsw->AddBatch(ids, v, 2).ok());
  ASSERT_TRUE(flat->AddBatch(ids, v).ok());
  ASSERT_EQ(hnsw->size(), n);
  double recall = 0;
  for (size_t i = 0; i < nq; ++i) {
    auto got = hnsw->Search(Row(q, i, dims), k);
    auto truth = flat->Search(Row(q, i, dims), k);
    ASSERT_TRUE(got.ok() && truth.ok());
    ASSERT_EQ(got->size(), k);
    for (size_t j = 1; j < k; ++j) EXPECT_GE((*got)[j - 1].score, (*got)[j].score);
    for (const auto& h : *got) EXPECT_NEAR(h.score, Dot(Row(v, h.id, dims), Row(q, i, dims)), 1e-4);
    recall += Recall(*got, *truth);
  }
  recall /= nq;
  std::printf("hnsw recall@10 on %zu x %dd (M=16, ef_construction=100, ef_search=300): %.4f\n", n,
              dims, recall);
  EXPECT_GE(recall, 0.95);
}

TEST(HnswIndexTest, RemovedIdsAreNeverReturnedAndSlotsAreReused) {
  const int dims = 32;
  const size_t n = 2000;
  std::vector<float> v = RandomUnitVectors(n, dims, 3);
  auto index = Make(Hnsw(dims, n));
  ASSERT_TRUE(index->AddBatch(Iota(n), v, 2).ok());
  std::unordered_set<uint64_t> removed;
  for (uint64_t id = 0; id < n; id += 2) {
    ASSERT_TRUE(index->Remove(id).ok());
    removed.insert(id);
  }
  EXPECT_EQ(index->Remove(0).code(), StatusCode::kNotFound);
  EXPECT_EQ(index->size(), n / 2);
  for (size_t i = 0; i < n; i += 5) {
    auto hits = index->Search(Row(v, i, dims), 20);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(hits->size(), 20u);
    for (const auto& h : *hits) EXPECT_FALSE(removed.count(h.id)) << "removed id " << h.id;
    if (!removed.count(i)) {
      EXPECT_EQ((*hits)[0].id, i);
    }
  }
  // New ids take the deleted slots: the graph does not grow.
  auto* hnsw = static_cast<HnswIndex*>(index.get());
  const size_t capacity = hnsw->capacity();
  std::vector<float> fresh = RandomUnitVectors(n / 2, dims, 4);
  for (size_t i = 0; i < n / 2; ++i) ASSERT_TRUE(index->Add(10000 + i, Row(fresh, i, dims)).ok());
  EXPECT_EQ(hnsw->capacity(), capacity);
  EXPECT_EQ(index->size(), n);
  for (size_t i = 0; i < n / 2; i += 5) {
    auto hits = index->Search(Row(fresh, i, dims), 5);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ((*hits)[0].id, 10000 + i);
    for (const auto& h : *hits) EXPECT_FALSE(removed.count(h.id));
  }
}

TEST(HnswIndexTest, AddReplacesExistingId) {
  const int dims = 32;
  std::vector<float> v = RandomUnitVectors(502, dims, 5);
  auto index = Make(Hnsw(dims));
  ASSERT_TRUE(index->AddBatch(Iota(500), std::span(v).first(500 * dims), 1).ok());
  ASSERT_TRUE(index->Add(7, Row(v, 500, dims)).ok());  // id 7 gets a new vector
  EXPECT_EQ(index->size(), 500u);
  auto hits = index->Search(Row(v, 500, dims), 1);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ((*hits)[0].id, 7u);
  EXPECT_NEAR((*hits)[0].score, 1.0f, 1e-5);
  // The old vector is gone: its best match is no longer id 7 at score 1.
  hits = index->Search(Row(v, 7, dims), 1);
  ASSERT_TRUE(hits.ok());
  EXPECT_LT((*hits)[0].score, 0.99f);
  // A batch that names an id twice keeps the last vector.
  ASSERT_TRUE(
      index->AddBatch(std::vector<uint64_t>{900, 900}, std::span(v).subspan(500 * dims), 2).ok());
  hits = index->Search(Row(v, 501, dims), 1);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ((*hits)[0].id, 900u);
  EXPECT_NEAR((*hits)[0].score, 1.0f, 1e-5);
}

std::vector<float> RowVec(const std::vector<float>& v, size_t i, int dims) {
  return std::vector<float>(Row(v, i, dims).begin(), Row(v, i, dims).end());
}

// hnswlib stores the bytes Add gave it (the inner-product space does not normalize: a non-unit
// vector comes back as is), through replacement, slot reuse, Save and Load; NotFound after Remove.
TEST(HnswIndexTest, GetVectorRoundTrip) {
  const int dims = 24;
  TempDir dir("hnsw_get_vector");
  std::vector<float> v = RandomUnitVectors(203, dims, 8);
  for (int j = 0; j < dims; ++j) v[j] *= 0.25f;  // vector 0 is not unit length
  auto index = Make(Hnsw(dims));
  ASSERT_TRUE(index->AddBatch(Iota(200), std::span(v).first(200 * dims), 2).ok());
  ASSERT_TRUE(index->Remove(10).ok());
  ASSERT_TRUE(index->Add(500, Row(v, 200, dims)).ok());  // reuses slot 10
  ASSERT_TRUE(index->Add(11, Row(v, 201, dims)).ok());   // replaces id 11's vector
  std::vector<float> got;
  EXPECT_EQ(index->GetVector(10, &got).code(), StatusCode::kNotFound);
  EXPECT_EQ(index->GetVector(9999, &got).code(), StatusCode::kNotFound);
  const std::vector<std::pair<uint64_t, size_t>> expect = {
      {0, 0}, {1, 1}, {11, 201}, {199, 199}, {500, 200}};
  for (const auto& [id, row] : expect) {
    ASSERT_TRUE(index->GetVector(id, &got).ok()) << id;
    EXPECT_EQ(got, RowVec(v, row, dims)) << id;
  }
  const std::string path = dir.File("index");
  ASSERT_TRUE(index->Save(path).ok());
  auto loaded = LoadIndex(Hnsw(dims), path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (const auto& [id, row] : expect) {
    ASSERT_TRUE((*loaded)->GetVector(id, &got).ok()) << id;
    EXPECT_EQ(got, RowVec(v, row, dims)) << id;
  }
  EXPECT_EQ((*loaded)->GetVector(10, &got).code(), StatusCode::kNotFound);
}

TEST(HnswIndexTest, GrowsWhenFull) {
  const int dims = 16;
  std::vector<float> v = RandomUnitVectors(3000, dims, 6);
  auto index = Make(Hnsw(dims, 10));
  for (size_t i = 0; i < 1500; ++i) ASSERT_TRUE(index->Add(i, Row(v, i, dims)).ok());
  ASSERT_TRUE(index->AddBatch(Iota(1500, 1500), std::span(v).subspan(1500 * dims), 2).ok());
  EXPECT_EQ(index->size(), 3000u);
  EXPECT_GE(static_cast<HnswIndex*>(index.get())->capacity(), 3000u);
  for (size_t i = 0; i < 3000; i += 37) {
    auto hits = index->Search(Row(v, i, dims), 1);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ((*hits)[0].id, i);
  }
}

TEST(HnswIndexTest, SaveLoadRoundTrip) {
  const int dims = 32;
  const size_t n = 1000;
  TempDir dir("hnsw_save");
  std::vector<float> v = RandomUnitVectors(n + 1, dims, 7);
  auto index = Make(Hnsw(dims));
  ASSERT_TRUE(index->AddBatch(Iota(n, 1ull << 40), std::span(v).first(n * dims), 2).ok());
  for (uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(index->Remove((1ull << 40) + i * 3).ok());
  const std::string path = dir.File("index");
  ASSERT_TRUE(index->Save(path).ok());
  // Only the index file is left behind: scratch and temporary files are gone.
  EXPECT_EQ(
      std::distance(std::filesystem::directory_iterator(std::filesystem::path(path).parent_path()),
                    std::filesystem::directory_iterator()),
      1);
  IndexOptions o = Hnsw(dims);
  auto loaded = LoadIndex(o, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->size(), n - 100);
  for (size_t i = 0; i < n; i += 3) {
    auto a = index->Search(Row(v, i, dims), 10);
    auto b = (*loaded)->Search(Row(v, i, dims), 10);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), b->size());
    for (size_t j = 0; j < a->size(); ++j) {
      EXPECT_EQ((*a)[j].id, (*b)[j].id);
      EXPECT_EQ((*a)[j].score, (*b)[j].score);
    }
  }
  // The loaded index keeps working: deleted slots are reused, removal and growth work.
  auto* h = static_cast<HnswIndex*>(loaded->get());
  EXPECT_EQ(h->ef_search(), o.ef_search);
  ASSERT_TRUE((*loaded)->Add(5, Row(v, n, dims)).ok());
  EXPECT_EQ((*loaded)->Remove(1ull << 40).code(), StatusCode::kNotFound);  // removed before save
  ASSERT_TRUE((*loaded)->Remove((1ull << 40) + 1).ok());
  auto hits = (*loaded)->Search(Row(v, n, dims), 1);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ((*hits)[0].id, 5u);
  o.dimensions = 16;
  EXPECT_EQ(LoadIndex(o, path).status().code(), StatusCode::kInvalidArgument);
  o = Hnsw(dims);
  o.kind = "flat";
  EXPECT_EQ(LoadIndex(o, path).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadIndex(Hnsw(dims), dir.File("missing")).status().code(), StatusCode::kNotFound);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Any flipped byte or truncation is DataLoss (never a crash or a silently wrong index), so the
// caller knows to rebuild from the store.
TEST(HnswIndexTest, CorruptOrTruncatedFileIsDataLoss) {
  const int dims = 16;
  TempDir dir("hnsw_corrupt");
  std::vector<float> v = RandomUnitVectors(300, dims, 8);
  for (const char* kind : {"hnsw", "flat"}) {
    IndexOptions o = Hnsw(dims);
    o.kind = kind;
    auto index = Make(o);
    ASSERT_TRUE(index->AddBatch(Iota(300), v, 1).ok());
    const std::string path = dir.File(kind);
    ASSERT_TRUE(index->Save(path).ok());
    const std::string good = ReadFile(path);
    ASSERT_TRUE(LoadIndex(o, path).ok());
    for (size_t pos :
         {size_t{0}, size_t{9}, size_t{30}, good.size() / 2, good.size() - 41, good.size() - 1}) {
      std::string bad = good;
      bad[pos] ^= 0x20;
      WriteFile(path, bad);
      EXPECT_EQ(LoadIndex(o, path).status().code(), StatusCode::kDataLoss)
          << kind << " flip at " << pos;
    }
    for (size_t len : {size_t{0}, size_t{10}, good.size() / 2, good.size() - 1}) {
      WriteFile(path, good.substr(0, len));
      EXPECT_EQ(LoadIndex(o, path).status().code(), StatusCode::kDataLoss)
          << kind << " truncated to " << len;
    }
    WriteFile(path, good + "x");
    EXPECT_EQ(LoadIndex(o, path).status().code(), StatusCode::kDataLoss) << kind << " extended";
  }
}

// Searches run while other threads add and remove (scenario in vector_index_test_util.h). Every
// hit must name an id that was added and carry that id's true score; at the end the index holds
// exactly what the writers left.
TEST(HnswIndexTest, ConcurrentSearchAddRemove) {
  ConcurrentChurn churn;
  churn.dims = 32;
  churn.per_writer = 1500;
  churn.search_k = 5;
  churn.final_k = 3;
  std::vector<float> v = RandomUnitVectors(churn.per_writer * churn.writers, churn.dims, 9);
  for (const char* kind : {"hnsw", "flat"}) {
    SCOPED_TRACE(kind);
    IndexOptions o = Hnsw(churn.dims, 64);  // small: growth happens under concurrent searches too
    o.kind = kind;
    auto index = Make(o);
    RunConcurrentSearchAddRemove(*index, v, churn);
  }
}

}  // namespace
}  // namespace deja
