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
