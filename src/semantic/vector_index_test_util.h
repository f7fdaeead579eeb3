// Test helpers for the vector indexes: random unit vectors, exact top-k, recall, and test
// scenarios shared by the index test suites (compressed-recall measurement, concurrent churn).
// Header-only, test-only; the scenarios report failures through GoogleTest in the calling test.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "gtest/gtest.h"
#include "semantic/vector_index.h"

namespace deja::testing {

// n unit vectors of `dims` floats, back to back, with i.i.d. Gaussian directions.
inline std::vector<float> RandomUnitVectors(size_t n, int dims, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n * dims);
  for (size_t i = 0; i < n; ++i) {
    float* x = v.data() + i * dims;
    double norm = 0;
    for (int j = 0; j < dims; ++j) {
      x[j] = g(rng);
      norm += double{x[j]} * x[j];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (int j = 0; j < dims; ++j) x[j] *= inv;
  }
  return v;
}

// n unit vectors gathered around `clusters` random unit centres (noise of length ~0.8, so a point's
// cosine with its centre is ~0.78): embeddings of real text cluster by topic like this. Calls with
// the same centre_seed share the centres (e.g. data and queries).
inline std::vector<float> ClusteredUnitVectors(size_t n, int dims, size_t clusters, uint64_t seed,
                                               uint64_t centre_seed = 1) {
  const std::vector<float> centres = RandomUnitVectors(clusters, dims, centre_seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.8f / std::sqrt(static_cast<float>(dims)));
  std::vector<float> v(n * dims);
  for (size_t i = 0; i < n; ++i) {
    const float* c = centres.data() + (rng() % clusters) * dims;
    float* x = v.data() + i * dims;
    double norm = 0;
    for (int j = 0; j < dims; ++j) {
      x[j] = c[j] + g(rng);
      norm += double{x[j]} * x[j];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (int j = 0; j < dims; ++j) x[j] *= inv;
  }
  return v;
}

inline std::span<const float> Row(const std::vector<float>& v, size_t i, int dims) {
  return std::span<const float>(v).subspan(i * dims, dims);
}

inline float Dot(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double{a[i]} * b[i];
  return static_cast<float>(s);
}

// Fraction of `truth` ids that `got` contains.
inline double Recall(const std::vector<VectorIndex::Hit>& got,
                     const std::vector<VectorIndex::Hit>& truth) {
  if (truth.empty()) return 1.0;
  std::unordered_set<uint64_t> want;
  for (const auto& h : truth) want.insert(h.id);
  size_t found = 0;
  for (const auto& h : got) found += want.count(h.id);
  return static_cast<double>(found) / static_cast<double>(truth.size());
}

// What MeasureCompressedRecall saw over all queries.
struct CompressedRecall {
  double recall_rerank = 0;   // mean recall@k of the reranked index against the exact one
  double recall_codes = 0;    // mean recall@k of the codes-only index against the exact one
  double mean_abs_error = 0;  // mean |estimate - true inner product| over codes-only hits
  double mean_error = 0;      // mean (estimate - true inner product): the estimates' bias
};

// Searches the `q` queries (back to back, `dims` floats each) top-k in the three indexes over the
// same data `v` (id i = row i). Expects every reranked hit to carry its exact score (1e-5); the
// codes-only scores are estimates and only measured. Fatal failure if a search fails: call it
// under ASSERT_NO_FATAL_FAILURE.
inline void MeasureCompressedRecall(VectorIndex& exact, VectorIndex& reranked,
                                    VectorIndex& codes_only, const std::vector<float>& v,
                                    const std::vector<float>& q, int dims, size_t k,
                                    CompressedRecall* out) {
  const size_t nq = q.size() / dims;
  CompressedRecall m;
  double abs_err = 0, bias = 0;
  size_t scored = 0;
  for (size_t i = 0; i < nq; ++i) {
    auto truth = exact.Search(Row(q, i, dims), k);
    auto a = reranked.Search(Row(q, i, dims), k);
    auto b = codes_only.Search(Row(q, i, dims), k);
    ASSERT_TRUE(truth.ok() && a.ok() && b.ok());
    m.recall_rerank += Recall(*a, *truth);
    m.recall_codes += Recall(*b, *truth);
    for (const auto& h : *a) EXPECT_NEAR(h.score, Dot(Row(v, h.id, dims), Row(q, i, dims)), 1e-5);
    for (const auto& h : *b) {
      const double e = h.score - Dot(Row(v, h.id, dims), Row(q, i, dims));
      abs_err += std::abs(e);
      bias += e;
      ++scored;
    }
  }
  m.recall_rerank /= nq;
  m.recall_codes /= nq;
  m.mean_abs_error = abs_err / scored;
  m.mean_error = bias / scored;
  *out = m;
}

// Shape of the concurrent churn scenario below.
struct ConcurrentChurn {
  int dims = 0;
  size_t per_writer =
      0;  // ids each writer adds: writer w owns [w * per_writer, (w+1) * per_writer)
  size_t writers = 2;
  size_t readers = 2;
  size_t search_k = 5;  // k of the searches racing the writers
  size_t final_k = 3;   // k of the searches checking the end state
};

// Searches run on `readers` threads while `writers` threads add their ids (row id of `v`) and
// remove every tenth one a little behind (id % per_writer % 10 == 4). Every hit must name an id
// that was added and carry that id's true score (1e-4); at the end the index holds exactly what
// the writers left, removed ids are never returned and a kept vector finds itself first. `index`
// must start empty; failures are reported in the calling test.
inline void RunConcurrentSearchAddRemove(VectorIndex& index, const std::vector<float>& v,
                                         const ConcurrentChurn& c) {
  const int dims = c.dims;
  const size_t per_writer = c.per_writer, writers = c.writers, readers = c.readers;
  const size_t nvec = per_writer * writers;
  ASSERT_GE(v.size(), nvec * dims);
  std::atomic<bool> done{false};
  std::atomic<size_t> searches{0}, bad{0};
  std::vector<std::thread> threads;
  for (size_t w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (size_t i = 0; i < per_writer; ++i) {
        const size_t id = w * per_writer + i;
        if (!index.Add(id, Row(v, id, dims)).ok()) bad++;
        if (i % 10 == 9 && !index.Remove(id - 5).ok()) bad++;  // remove one of ours
      }
    });
  }
  for (size_t r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      size_t i = r;
      // Keep searching until the writers finish, and at least a few hundred times.
      while (!done.load() || i < 400) {
        const size_t qi = (i * 7919) % nvec;
        auto hits = index.Search(Row(v, qi, dims), c.search_k);
        if (!hits.ok()) {
          bad++;
        } else {
          for (const auto& h : *hits) {
            if (h.id >= nvec ||
                std::abs(h.score - Dot(Row(v, h.id, dims), Row(v, qi, dims))) > 1e-4) {
              bad++;
            }
          }
        }
        ++searches;
        i += readers;
      }
    });
  }
  for (size_t w = 0; w < writers; ++w) threads[w].join();
  done = true;
  for (size_t t = writers; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(searches.load(), 0u);
  EXPECT_EQ(index.size(), nvec * 9 / 10);
  for (size_t id = 0; id < nvec; id += 13) {
    const bool removed = id % per_writer % 10 == 4;
    auto hits = index.Search(Row(v, id, dims), c.final_k);
    ASSERT_TRUE(hits.ok());
    for (const auto& h : *hits) EXPECT_FALSE(h.id % per_writer % 10 == 4) << "removed id " << h.id;
    if (!removed) {
      ASSERT_FALSE(hits->empty());
      EXPECT_EQ((*hits)[0].id, id);
    }
  }
}

}  // namespace deja::testing
