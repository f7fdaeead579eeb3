// Helpers shared by the store tests: scratch directories and deterministic entries.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "deja/store.h"
#include "gtest/gtest.h"

namespace deja::testing {

// A fresh directory under the test temp dir, removed (with contents) on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = ::testing::TempDir() + "deja-store-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr) << std::strerror(errno);
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A well-spread key derived from `i` (splitmix64), so keys land all over the key space.
inline CacheKey KeyFor(uint64_t i) {
  CacheKey k;
  uint64_t x = i + 1;
  for (size_t off = 0; off < k.bytes.size(); off += 8) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(k.bytes.data() + off, &z, 8);
  }
  return k;
}

// Entry number `i`, whose content is a function of `i` alone (so a reader can verify it).
inline Entry MakeEntry(uint64_t i, size_t body_size = 256, std::string name_space = "",
                       std::string model = "gpt-4o") {
  Entry e;
  e.key = KeyFor(i);
  e.canonical_request = "{\"model\":\"" + model + "\",\"n\":" + std::to_string(i) + "}";
  e.response.status = 200;
  e.response.content_type = "application/json";
  e.response.body.reserve(body_size);
  for (size_t j = 0; j < body_size; ++j)
    e.response.body.push_back(static_cast<char>('a' + (i + j) % 26));
  e.meta.model = std::move(model);
  e.meta.route = "/v1/chat/completions";
  e.meta.name_space = std::move(name_space);
  e.meta.input_tokens = static_cast<int64_t>(i);
  e.meta.output_tokens = 2 * static_cast<int64_t>(i);
  e.meta.upstream_latency_us = 1000 + static_cast<int64_t>(i);
  return e;
}

// Whether `a` and `b` hold the same content, ignoring what the store sets (size, created_at, hits).
inline bool SameContent(const Entry& a, const Entry& b) {
  return a.key == b.key && a.canonical_request == b.canonical_request && a.response == b.response &&
         a.meta.model == b.meta.model && a.meta.route == b.meta.route &&
         a.meta.name_space == b.meta.name_space && a.meta.input_tokens == b.meta.input_tokens &&
         a.meta.output_tokens == b.meta.output_tokens &&
         a.meta.upstream_latency_us == b.meta.upstream_latency_us &&
         a.meta.expires_at_ms == b.meta.expires_at_ms;
}

}  // namespace deja::testing
