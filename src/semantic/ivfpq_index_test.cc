#include "semantic/ivfpq_index.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "gtest/gtest.h"
#include "semantic/vector_index_test_util.h"

namespace deja {
namespace {

using testing::ClusteredUnitVectors;
using testing::CompressedRecall;
using testing::ConcurrentChurn;
using testing::Dot;
using testing::MeasureCompressedRecall;
using testing::RandomUnitVectors;
using testing::Row;
using testing::RunConcurrentSearchAddRemove;

// Small train sizes keep the tests fast (faiss recommends 39 points per k-means centroid).
IndexOptions IvfPq(int dims, size_t train_size) {
  IndexOptions o;
  o.kind = "ivfpq";
  o.dimensions = dims;
  o.ivf_train_size = train_size;
  return o;
}

std::unique_ptr<IvfPqIndex> Make(const IndexOptions& o) {
  auto index = MakeIndex(o);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return std::unique_ptr<IvfPqIndex>(static_cast<IvfPqIndex*>(index->release()));
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

// Below the train size the index is an exact flat index: same ids and scores as a brute force.
TEST(IvfPqIndexTest, BelowTrainSizeSearchIsExact) {
  const int dims = 24;
  auto index = Make(IvfPq(dims, 1000));
  std::vector<float> v = RandomUnitVectors(400, dims, 1);
  for (size_t i = 0; i < 400; ++i) ASSERT_TRUE(index->Add(100 + i, Row(v, i, dims)).ok());
  ASSERT_TRUE(index->Remove(150).ok());
  EXPECT_EQ(index->Remove(150).code(), StatusCode::kNotFound);
  EXPECT_FALSE(index->trained());
  EXPECT_EQ(index->size(), 399u);
  std::vector<float> q = RandomUnitVectors(10, dims, 2);
  for (size_t qi = 0; qi < 10; ++qi) {
    std::vector<VectorIndex::Hit> truth;
    for (size_t i = 0; i < 400; ++i) {
      if (i != 50) truth.push_back({100 + i, Dot(Row(v, i, dims), Row(q, qi, dims))});
    }
    std::sort(truth.begin(), truth.end(), [](auto& a, auto& b) { return a.score > b.score; });
    auto hits = index->Search(Row(q, qi, dims), 5);
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 5u);
    for (size_t j = 0; j < 5; ++j) {
      EXPECT_EQ((*hits)[j].id, truth[j].id);
      EXPECT_NEAR((*hits)[j].score, truth[j].score, 1e-5);
    }
  }
}

// The Add that reaches the train size trains; every id stays findable (as its own nearest
// neighbour, score 1 after the exact rerank), and adds, replacements and removals keep working.
TEST(IvfPqIndexTest, TrainingTransitionKeepsEveryId) {
  const int dims = 32;
  const size_t train = 1000, n = 1500;
  IndexOptions o = IvfPq(dims, train);
  // 2-d subquantizers: with 4-d ones (the automatic choice) 256 codewords trained on 1000 points
  // overfit, and vectors added after training get estimates too poor for a 10-candidate rerank.
  o.pq_m = 16;
  auto index = Make(o);
  std::vector<float> v = ClusteredUnitVectors(n + 1, dims, 20, 3);
  for (size_t i = 0; i + 1 < train; ++i) ASSERT_TRUE(index->Add(i, Row(v, i, dims)).ok());
  EXPECT_FALSE(index->trained());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(index->Add(train - 1, Row(v, train - 1, dims)).ok());
  const double train_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(index->trained());
  // Automatic parameters: nlist = largest power of two <= min(4 sqrt(1000), 1000 / 39) = 16,
  // nprobe = min(nlist, max(8, nlist / 32)) = 8.
  EXPECT_EQ(index->nlist(), 16);
  EXPECT_EQ(index->pq_m(), 16);
  EXPECT_EQ(index->nprobe(), 8);
  std::printf("ivfpq: training on %zu %d-d vectors took %.0f ms\n", train, dims, train_ms);
  EXPECT_EQ(index->size(), train);
  for (size_t i = train; i < n; ++i) ASSERT_TRUE(index->Add(i, Row(v, i, dims)).ok());
  index->set_nprobe(16);  // all clusters: every stored vector is a candidate
  for (size_t i = 0; i < n; ++i) {
    auto hits = index->Search(Row(v, i, dims), 1);
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].id, i);
    EXPECT_NEAR((*hits)[0].score, 1.0f, 1e-5);
  }
  // Replace id 7's vector with a new one; remove every tenth id.
  ASSERT_TRUE(index->Add(7, Row(v, n, dims)).ok());
  for (size_t i = 0; i < n; i += 10) ASSERT_TRUE(index->Remove(i).ok());
  EXPECT_EQ(index->Remove(0).code(), StatusCode::kNotFound);
  EXPECT_EQ(index->size(), n - n / 10);
  auto replaced = index->Search(Row(v, n, dims), 1);
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ((*replaced)[0].id, 7u);
  EXPECT_NEAR((*replaced)[0].score, 1.0f, 1e-5);
  for (size_t i = 0; i < n; i += 3) {
    auto hits = index->Search(Row(v, i, dims), 20);
    ASSERT_TRUE(hits.ok());
    for (const auto& h : *hits) {
      EXPECT_NE(h.id % 10, 0u) << "removed id " << h.id;
      const size_t row = h.id == 7 ? n : h.id;
      EXPECT_NEAR(h.score, Dot(Row(v, row, dims), Row(v, i, dims)), 1e-5);
    }
  }
}

// GetVector reads the kept floats before and after training, exactly as added; NotFound after
// Remove. Without rerank only PQ codes remain once trained: FailedPrecondition.
TEST(IvfPqIndexTest, GetVectorRoundTripAndCodesOnly) {
  const int dims = 16;
  const size_t train = 300;
  std::vector<float> v = ClusteredUnitVectors(train + 1, dims, 8, 9);
  for (int j = 0; j < dims; ++j) v[j] *= 2.0f;  // vector 0 is not unit length
  auto row = [&](size_t i) {
    return std::vector<float>(Row(v, i, dims).begin(), Row(v, i, dims).end());
  };
  for (bool rerank : {true, false}) {
    SCOPED_TRACE(rerank);
    IndexOptions o = IvfPq(dims, train);
    o.rerank = rerank;
    auto index = Make(o);
    std::vector<float> got;
    for (size_t i = 0; i + 1 < train; ++i) ASSERT_TRUE(index->Add(i, Row(v, i, dims)).ok());
    ASSERT_TRUE(index->GetVector(0, &got).ok());  // flat phase: floats either way
    EXPECT_EQ(got, row(0));
    ASSERT_TRUE(index->Add(train - 1, Row(v, train - 1, dims)).ok());
    ASSERT_TRUE(index->trained());
    ASSERT_TRUE(index->Add(5, Row(v, train, dims)).ok());  // replaces id 5's vector
    ASSERT_TRUE(index->Remove(6).ok());
    EXPECT_EQ(index->GetVector(6, &got).code(), StatusCode::kNotFound);
    EXPECT_EQ(index->GetVector(9999, &got).code(), StatusCode::kNotFound);
    if (!rerank) {
      EXPECT_EQ(index->GetVector(0, &got).code(), StatusCode::kFailedPrecondition);
      continue;
    }
    for (size_t id : {size_t{0}, size_t{1}, train - 1}) {
      ASSERT_TRUE(index->GetVector(id, &got).ok()) << id;
      EXPECT_EQ(got, row(id)) << id;
    }
    ASSERT_TRUE(index->GetVector(5, &got).ok());
    EXPECT_EQ(got, row(train));
  }
}

// recall@10 against the exact scan on clustered data, with the default (automatic) parameters.
// The float rerank makes scores exact; without it scores are PQ estimates.
TEST(IvfPqIndexTest, RecallAgainstExactOnClusteredData) {
  const int dims = 64;
  const size_t n = 5000, nq = 100, k = 10;
  std::vector<float> v = ClusteredUnitVectors(n, dims, 100, 4);
  std::vector<float> q = ClusteredUnitVectors(nq, dims, 100, 4 + 1000);
  IndexOptions flat_opts;
  flat_opts.kind = "flat";
  flat_opts.dimensions = dims;
  auto exact = std::move(*MakeIndex(flat_opts));
  ASSERT_TRUE(exact->AddBatch(Iota(n), v, 1).ok());
  IndexOptions o = IvfPq(dims, n);  // every other parameter automatic
  auto reranked = Make(o);
  o.rerank = false;
  auto codes_only = Make(o);
  ASSERT_TRUE(reranked->AddBatch(Iota(n), v, 1).ok());
  ASSERT_TRUE(codes_only->AddBatch(Iota(n), v, 1).ok());
  ASSERT_TRUE(reranked->trained() && codes_only->trained());
  EXPECT_EQ(reranked->nlist(), 128);  // largest power of two <= min(4 sqrt(5000), 5000 / 39)
  EXPECT_EQ(reranked->nprobe(), 8);
  EXPECT_EQ(reranked->pq_m(), 8);  // 64 / 8: 8-byte codes
  CompressedRecall m;
  ASSERT_NO_FATAL_FAILURE(
      MeasureCompressedRecall(*exact, *reranked, *codes_only, v, q, dims, k, &m));
  const double bpv_rerank = static_cast<double>(reranked->MemoryBytes()) / n;
  const double bpv_codes = static_cast<double>(codes_only->MemoryBytes()) / n;
  const double bpv_exact = static_cast<double>(exact->MemoryBytes()) / n;
  std::printf(
      "ivfpq %dd n=%zu nlist %d nprobe %d m %d: recall@10 rerank %.3f, codes only %.3f (score "
      "mean |err| %.4f); bytes/vector flat %.0f, ivfpq+floats %.0f, ivfpq codes only %.0f\n",
      dims, n, reranked->nlist(), reranked->nprobe(), reranked->pq_m(), m.recall_rerank,
      m.recall_codes, m.mean_abs_error, bpv_exact, bpv_rerank, bpv_codes);
  EXPECT_GE(m.recall_rerank, 0.9);
  EXPECT_GE(m.recall_codes, 0.3);  // 8-byte codes: estimates off by ~0.07 (printed)
  EXPECT_LT(m.mean_abs_error, 0.15);
  EXPECT_LT(bpv_codes, bpv_exact / 3);
}

// Once trained, a batch replaces existing ids and the last vector given for a repeated id wins.
TEST(IvfPqIndexTest, AddBatchAfterTrainingReplacesAndDeduplicates) {
  const int dims = 16;
  for (bool rerank : {true, false}) {
    IndexOptions o = IvfPq(dims, 600);
    o.rerank = rerank;
    o.ivf_nlist = 8;
    o.ivf_nprobe = 8;  // every cluster
    o.pq_m = 16;       // one byte per coordinate: PQ estimates close enough to rank without rerank
    auto index = Make(o);
    std::vector<float> v = ClusteredUnitVectors(1000, dims, 10, 5);
    ASSERT_TRUE(index->AddBatch(Iota(600), std::span(v).first(600 * dims), 1).ok());
    ASSERT_TRUE(index->trained());
    // ids 590..609: ten replacements, ten new; id 600 appears twice, its second vector wins.
    std::vector<uint64_t> ids = Iota(20, 590);
    ids.push_back(600);
    const std::vector<float> batch(v.begin() + 700 * dims, v.begin() + 721 * dims);
    ASSERT_TRUE(index->AddBatch(ids, batch, 1).ok());
    EXPECT_EQ(index->size(), 610u) << rerank;
    auto hit = index->Search(Row(v, 720, dims), 1);  // the second vector of id 600
    ASSERT_TRUE(hit.ok());
    ASSERT_FALSE(hit->empty());
    EXPECT_EQ((*hit)[0].id, 600u) << rerank;
    auto old = index->Search(Row(v, 595, dims), 50);  // id 595's replaced vector is gone
    ASSERT_TRUE(old.ok());
    if (rerank) {
      for (const auto& h : *old) EXPECT_LT(h.score, 0.9999f) << h.id;  // nothing equals it now
    }
  }
}

TEST(IvfPqIndexTest, RejectsBadOptionsAndInput) {
  IndexOptions o = IvfPq(48, 1000);
  EXPECT_TRUE(o.Validate().ok());
  o.pq_m = 7;  // does not divide 48
  EXPECT_EQ(MakeIndex(o).status().code(), StatusCode::kInvalidArgument);
  o.pq_m = 12;
  EXPECT_TRUE(MakeIndex(o).ok());
  o.pq_nbits = 9;
  EXPECT_EQ(MakeIndex(o).status().code(), StatusCode::kInvalidArgument);
  o.pq_nbits = 8;
  o.ivf_train_size = 100;  // fewer points than the 256 centroids of a subquantizer
  EXPECT_EQ(MakeIndex(o).status().code(), StatusCode::kInvalidArgument);
  o.ivf_train_size = 1000;
  o.ivf_nlist = 2000;  // more clusters than training points
  EXPECT_EQ(MakeIndex(o).status().code(), StatusCode::kInvalidArgument);
  o.ivf_nlist = 0;
  o.compress = true;
  EXPECT_EQ(MakeIndex(o).status().code(), StatusCode::kInvalidArgument);
  o.compress = false;
  o.ivf_nprobe = -1;
  EXPECT_EQ(MakeIndex(o).status().code(), StatusCode::kInvalidArgument);

  // Dimension mismatches and non-finite values, before and after training.
  auto index = Make(IvfPq(8, 300));
  std::vector<float> short_vec(7, 0.1f), nan_vec(8, 0.1f);
  nan_vec[2] = std::nanf("");
  for (int phase = 0; phase < 2; ++phase) {
    EXPECT_EQ(index->Add(1, short_vec).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(index->Add(1, nan_vec).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(index->Search(short_vec, 1).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(index->AddBatch(Iota(2), std::vector<float>(15, 0.1f), 1).code(),
              StatusCode::kInvalidArgument);
    if (phase == 0) {
      auto empty = index->Search(std::vector<float>(8, 0.1f), 3);
      ASSERT_TRUE(empty.ok());
      EXPECT_TRUE(empty->empty());
      ASSERT_TRUE(index->AddBatch(Iota(300), RandomUnitVectors(300, 8, 6), 1).ok());
      ASSERT_TRUE(index->trained());
    }
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Untrained, trained with floats and trained without: the loaded index answers exactly as the
// saved one did and keeps working (removal uses faiss's direct map, which must survive).
TEST(IvfPqIndexTest, SaveLoadRoundTrip) {
  const int dims = 16;
  TempDir dir("ivfpq_save");
  std::vector<float> v = ClusteredUnitVectors(801, dims, 10, 7);
  struct Case {
    const char* name;
    size_t n;
    bool rerank;
  };
  for (const Case& c :
       {Case{"flat", 200, true}, Case{"floats", 800, true}, Case{"codes", 800, false}}) {
    IndexOptions o = IvfPq(dims, 500);
    o.rerank = c.rerank;
    o.pq_m = 16;  // fine codes, so the nearest neighbour is found without rerank too
    auto index = Make(o);
    ASSERT_TRUE(index->AddBatch(Iota(c.n, 1ull << 40), std::span(v).first(c.n * dims), 1).ok());
    ASSERT_TRUE(index->Remove((1ull << 40) + 3).ok());
    ASSERT_EQ(index->trained(), c.n >= 500) << c.name;
    const std::string path = dir.File(c.name);
    ASSERT_TRUE(index->Save(path).ok()) << c.name;
    auto loaded_or = LoadIndex(o, path);
    ASSERT_TRUE(loaded_or.ok()) << c.name << ": " << loaded_or.status().ToString();
    auto* loaded = static_cast<IvfPqIndex*>(loaded_or->get());
    EXPECT_EQ(loaded->size(), c.n - 1) << c.name;
    EXPECT_EQ(loaded->trained(), index->trained()) << c.name;
    EXPECT_EQ(loaded->nprobe(), index->nprobe()) << c.name;
    for (size_t i = 0; i < c.n; i += 7) {
      auto a = index->Search(Row(v, i, dims), 10);
      auto b = loaded->Search(Row(v, i, dims), 10);
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(a->size(), b->size()) << c.name;
      for (size_t j = 0; j < a->size(); ++j) {
        EXPECT_EQ((*a)[j].id, (*b)[j].id) << c.name;
        EXPECT_EQ((*a)[j].score, (*b)[j].score) << c.name;
      }
    }
    EXPECT_EQ(loaded->Remove((1ull << 40) + 3).code(), StatusCode::kNotFound) << c.name;
    ASSERT_TRUE(loaded->Remove((1ull << 40) + 4).ok()) << c.name;
    ASSERT_TRUE(loaded->Add(5, Row(v, 800, dims)).ok()) << c.name;
    EXPECT_EQ(loaded->size(), c.n - 1) << c.name;
    auto hit = loaded->Search(Row(v, 800, dims), 1);
    ASSERT_TRUE(hit.ok());
    EXPECT_EQ((*hit)[0].id, 5u) << c.name;
    if (index->trained()) {  // structural options must match the trained file
      IndexOptions other = o;
      other.rerank = !c.rerank;
      EXPECT_EQ(LoadIndex(other, path).status().code(), StatusCode::kInvalidArgument) << c.name;
      other = o;
      other.ivf_nlist = index->nlist() * 2;
      EXPECT_EQ(LoadIndex(other, path).status().code(), StatusCode::kInvalidArgument) << c.name;
    }
    IndexOptions wrong = o;
    wrong.dimensions = 32;
    EXPECT_EQ(LoadIndex(wrong, path).status().code(), StatusCode::kInvalidArgument) << c.name;
    wrong = o;
    wrong.kind = "flat";
    EXPECT_EQ(LoadIndex(wrong, path).status().code(), StatusCode::kInvalidArgument) << c.name;
  }
}

// Any flipped byte or truncation is DataLoss, never a crash or a silently wrong index.
TEST(IvfPqIndexTest, CorruptOrTruncatedFileIsDataLoss) {
  const int dims = 16;
  TempDir dir("ivfpq_corrupt");
  IndexOptions o = IvfPq(dims, 300);
  o.rerank = false;  // the payload is only the faiss blob: flips land in faiss's bytes
  auto index = Make(o);
  ASSERT_TRUE(index->AddBatch(Iota(400), ClusteredUnitVectors(400, dims, 8, 8), 1).ok());
  ASSERT_TRUE(index->trained());
  const std::string path = dir.File("index");
  ASSERT_TRUE(index->Save(path).ok());
  const std::string good = ReadFile(path);
  ASSERT_TRUE(LoadIndex(o, path).ok());
  for (size_t pos : {size_t{0}, size_t{20}, size_t{30}, size_t{60}, good.size() / 2,
                     good.size() - 41, good.size() - 1}) {
    std::string bad = good;
    bad[pos] ^= 0x20;
    WriteFile(path, bad);
    EXPECT_EQ(LoadIndex(o, path).status().code(), StatusCode::kDataLoss) << "flip at " << pos;
  }
  for (size_t len : {size_t{0}, size_t{10}, good.size() / 2, good.size() - 1}) {
    WriteFile(path, good.substr(0, len));
    EXPECT_EQ(LoadIndex(o, path).status().code(), StatusCode::kDataLoss) << "truncated to " << len;
  }
  WriteFile(path, good + "x");
  EXPECT_EQ(LoadIndex(o, path).status().code(), StatusCode::kDataLoss) << "extended";
}

// Searches run while writers add across the train size (training happens under their feet) and
// remove (scenario in vector_index_test_util.h). Every hit names an added id with its true score;
// at the end the index holds exactly what the writers left.
TEST(IvfPqIndexTest, ConcurrentSearchAddRemoveAcrossTraining) {
  ConcurrentChurn churn;
  churn.dims = 16;
  churn.per_writer = 600;
  churn.search_k = 5;
  // k = 10: the float rerank pool is 10 * k PQ candidates. With k = 3 (30 of ~1,080 tightly
  // clustered vectors) the PQ ranking, trained on whatever the racing writers had added, missed
  // the exact vector about once in 20 runs; this test is about ids across training, not recall.
  churn.final_k = 10;
  std::vector<float> v = ClusteredUnitVectors(churn.per_writer * churn.writers, churn.dims, 10, 9);
  IndexOptions o = IvfPq(churn.dims, 500);
  o.ivf_nlist = 8;
  o.ivf_nprobe = 8;
  auto index = Make(o);
  RunConcurrentSearchAddRemove(*index, v, churn);
  EXPECT_TRUE(index->trained());
}

}  // namespace
}  // namespace deja
