#include "semantic/flat_index.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "gtest/gtest.h"
#include "semantic/vector_index_test_util.h"

namespace deja {
namespace {

using testing::CompressedRecall;
using testing::Dot;
using testing::MeasureCompressedRecall;
using testing::RandomUnitVectors;
using testing::Row;

std::unique_ptr<VectorIndex> MakeFlat(int dims, bool compress = false, bool rerank = true,
                                      int bits = 4) {
  IndexOptions o;
  o.kind = "flat";
  o.dimensions = dims;
  o.compress = compress;
  o.rerank = rerank;
  o.compress_bits = bits;
  auto index = MakeIndex(o);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return std::move(*index);
}

// Exact top-k of `query` among `live` (id -> vector).
std::vector<VectorIndex::Hit> BruteForce(const std::map<uint64_t, std::vector<float>>& live,
                                         std::span<const float> query, size_t k) {
  std::vector<VectorIndex::Hit> all;
  for (const auto& [id, v] : live) all.push_back({id, Dot(v, query)});
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.score > b.score; });
  all.resize(std::min(k, all.size()));
  return all;
}

TEST(FlatIndexTest, FindsExactNeighboursBestFirst) {
  const int dims = 40;  // not a multiple of the SIMD width: exercises the tail loops
  auto index = MakeFlat(dims);
  std::vector<float> v = RandomUnitVectors(500, dims, 1);
  std::map<uint64_t, std::vector<float>> live;
  for (size_t i = 0; i < 500; ++i) {
    ASSERT_TRUE(index->Add(1000 + i, Row(v, i, dims)).ok());
    live[1000 + i].assign(Row(v, i, dims).begin(), Row(v, i, dims).end());
  }
  EXPECT_EQ(index->size(), 500u);
  std::vector<float> q = RandomUnitVectors(20, dims, 2);
  for (size_t i = 0; i < 20; ++i) {
    auto hits = index->Search(Row(q, i, dims), 10);
    ASSERT_TRUE(hits.ok());
    auto truth = BruteForce(live, Row(q, i, dims), 10);
    ASSERT_EQ(hits->size(), 10u);
    for (size_t j = 0; j < 10; ++j) {
      EXPECT_EQ((*hits)[j].id, truth[j].id);
      EXPECT_NEAR((*hits)[j].score, truth[j].score, 1e-5);
    }
  }
  // A stored vector is its own nearest neighbour with score 1.
  auto self = index->Search(Row(v, 7, dims), 1);
  ASSERT_TRUE(self.ok());
  EXPECT_EQ((*self)[0].id, 1007u);
  EXPECT_NEAR((*self)[0].score, 1.0f, 1e-5);
}

TEST(FlatIndexTest, RemoveAndReplace) {
  const int dims = 16;
  auto index = MakeFlat(dims);
  std::vector<float> v = RandomUnitVectors(100, dims, 3);
  std::map<uint64_t, std::vector<float>> live;
  for (size_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(index->Add(i, Row(v, i, dims)).ok());
    live[i].assign(Row(v, i, dims).begin(), Row(v, i, dims).end());
  }
  // Remove from the middle, the end and the start: swap-remove must keep every other vector.
  for (uint64_t id : {50u, 99u, 0u, 98u}) {
    ASSERT_TRUE(index->Remove(id).ok());
    live.erase(id);
  }
  EXPECT_EQ(index->Remove(50).code(), StatusCode::kNotFound);
  EXPECT_EQ(index->size(), 96u);
  // Replace id 10's vector with id 20's: both then score 1 for that query.
  ASSERT_TRUE(index->Add(10, Row(v, 20, dims)).ok());
  live[10] = live[20];
  EXPECT_EQ(index->size(), 96u);
  for (const auto& [id, vec] : live) {
    auto hits = index->Search(vec, 2);
    ASSERT_TRUE(hits.ok());
    ASSERT_FALSE(hits->empty());
    EXPECT_NEAR((*hits)[0].score, 1.0f, 1e-5);
    if (id != 10 && id != 20) {
      EXPECT_EQ((*hits)[0].id, id);
    }
  }
  auto all = index->Search(Row(v, 50, dims), 1000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 96u);
  for (const auto& h : *all) EXPECT_TRUE(live.count(h.id)) << h.id;
}

// GetVector returns exactly what was added (no normalization: a non-unit vector comes back as
// is), follows swap-remove and replacement, and is NotFound after Remove.
TEST(FlatIndexTest, GetVectorRoundTrip) {
  const int dims = 12;
  for (bool compress : {false, true}) {
    SCOPED_TRACE(compress);
    auto index = MakeFlat(dims, compress);
    std::vector<float> v = RandomUnitVectors(30, dims, 5);
    for (int j = 0; j < dims; ++j) v[j] *= 3.5f;  // vector 0 is not unit length
    for (size_t i = 0; i < 30; ++i) ASSERT_TRUE(index->Add(i, Row(v, i, dims)).ok());
    ASSERT_TRUE(index->Remove(3).ok());  // the last vector (29) moves into slot 3
    ASSERT_TRUE(index->Add(7, Row(v, 8, dims)).ok());
    std::vector<float> got;
    for (uint64_t id : {0u, 1u, 7u, 28u, 29u}) {
      ASSERT_TRUE(index->GetVector(id, &got).ok()) << id;
      const size_t row = id == 7 ? 8 : id;
      EXPECT_EQ(got, std::vector<float>(Row(v, row, dims).begin(), Row(v, row, dims).end())) << id;
    }
    EXPECT_EQ(index->GetVector(3, &got).code(), StatusCode::kNotFound);
    EXPECT_EQ(index->GetVector(1000, &got).code(), StatusCode::kNotFound);
  }
  // Codes only: the floats are gone.
  auto codes = MakeFlat(dims, /*compress=*/true, /*rerank=*/false);
  ASSERT_TRUE(codes->Add(1, RandomUnitVectors(1, dims, 6)).ok());
  std::vector<float> got;
  EXPECT_EQ(codes->GetVector(1, &got).code(), StatusCode::kFailedPrecondition);
}

TEST(FlatIndexTest, RejectsBadInput) {
  auto index = MakeFlat(8);
  std::vector<float> short_vec(7, 0.1f), nan_vec(8, 0.1f);
  nan_vec[3] = std::nanf("");
  EXPECT_EQ(index->Add(1, short_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Add(1, nan_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Search(short_vec, 1).status().code(), StatusCode::kInvalidArgument);
  auto empty = index->Search(std::vector<float>(8, 0.1f), 5);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  IndexOptions bad;
  bad.kind = "flat";
  EXPECT_EQ(MakeIndex(bad).status().code(), StatusCode::kInvalidArgument);  // no dimensions
  bad.dimensions = 8;
  bad.kind = "ivf";
  EXPECT_EQ(MakeIndex(bad).status().code(), StatusCode::kInvalidArgument);
  bad.kind = "hnsw";
  bad.compress = true;
  EXPECT_EQ(MakeIndex(bad).status().code(), StatusCode::kInvalidArgument);
}

// Code scan + float rerank keeps recall near exact; codes alone are approximate. Reports bytes per
// vector and the inner-product error of the codes.
TEST(FlatIndexTest, CompressedRecallAndMemory) {
  const int dims = 64;
  const size_t n = 5000, nq = 50, k = 10;
  std::vector<float> v = RandomUnitVectors(n, dims, 4);
  std::vector<float> q = RandomUnitVectors(nq, dims, 5);
  auto exact = MakeFlat(dims);
  auto reranked = MakeFlat(dims, true, true, 4);
  auto codes_only = MakeFlat(dims, true, false, 4);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(exact->Add(i, Row(v, i, dims)).ok());
    ASSERT_TRUE(reranked->Add(i, Row(v, i, dims)).ok());
    ASSERT_TRUE(codes_only->Add(i, Row(v, i, dims)).ok());
  }
  CompressedRecall m;
  ASSERT_NO_FATAL_FAILURE(
      MeasureCompressedRecall(*exact, *reranked, *codes_only, v, q, dims, k, &m));
  const double exact_bpv = static_cast<double>(exact->MemoryBytes()) / n;
  const double codes_bpv = static_cast<double>(codes_only->MemoryBytes()) / n;
  const double rerank_bpv = static_cast<double>(reranked->MemoryBytes()) / n;
  std::printf(
      "flat %dd n=%zu: recall@10 rerank %.3f, codes only %.3f; bytes/vector exact %.0f, "
      "codes+floats %.0f, codes only %.0f (code %zu); top-hit estimate error mean |e| "
      "%.4f, mean e %+.4f\n",
      dims, n, m.recall_rerank, m.recall_codes, exact_bpv, rerank_bpv, codes_bpv,
      static_cast<FlatIndex*>(codes_only.get())->code_bytes(), m.mean_abs_error, m.mean_error);
  EXPECT_GE(m.recall_rerank, 0.95);
  EXPECT_GE(m.recall_codes, 0.5);
  EXPECT_LT(codes_bpv, exact_bpv / 2);
}

TEST(FlatIndexTest, SaveLoadRoundTrip) {
  const int dims = 24;
  const auto dir = std::filesystem::path(::testing::TempDir()) / "flat_save";
  std::filesystem::create_directories(dir);
  std::vector<float> v = RandomUnitVectors(300, dims, 6);
  for (bool compress : {false, true}) {
    auto index = MakeFlat(dims, compress);
    for (size_t i = 0; i < 300; ++i) ASSERT_TRUE(index->Add(i * 3, Row(v, i, dims)).ok());
    ASSERT_TRUE(index->Remove(9).ok());
    const std::string path = (dir / (compress ? "c.idx" : "f.idx")).string();
    ASSERT_TRUE(index->Save(path).ok());
    IndexOptions o;
    o.kind = "flat";
    o.dimensions = dims;
    o.compress = compress;
    auto loaded = LoadIndex(o, path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ((*loaded)->size(), 299u);
    for (size_t i = 0; i < 300; i += 7) {
      auto a = index->Search(Row(v, i, dims), 5);
      auto b = (*loaded)->Search(Row(v, i, dims), 5);
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(a->size(), b->size());
      for (size_t j = 0; j < a->size(); ++j) {
        EXPECT_EQ((*a)[j].id, (*b)[j].id);
        EXPECT_EQ((*a)[j].score, (*b)[j].score);
      }
    }
    o.compress = !compress;  // structural options must match the file
    EXPECT_EQ(LoadIndex(o, path).status().code(), StatusCode::kInvalidArgument);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace deja
