// Test helpers for the vector indexes: random unit vectors, exact top-k, recall.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <unordered_set>
#include <vector>

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

}  // namespace deja::testing
