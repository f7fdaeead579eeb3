// The LMDB store engine on the cache-hit path, against an in-memory hash map.
//
// Reference: BM_UnorderedMapGet4KB_Ref, a std::unordered_map lookup plus a copy of the same 4 KB
// entry: the floor any store that hands back an owned Entry must pay. BM_LmdbGet4KB is what a cache
// hit costs (read transaction, B-tree lookup, decode, copy, hit counting); target: median <= 2 µs
// (counter target_ns). BM_LmdbPeek4KB is the same without the hit counter. BM_LmdbPut4KB is
// durable-write throughput (each Put is one fsynced LMDB commit), so it is measured in wall time
// and its ratio to the reference is not meaningful.
//
// The store (and the map) hold kEntries entries with 4 KiB bodies. The argument is how many
// distinct entries the lookups cycle through, in a scrambled order: /1000 (~5 MB, a hot set that
// fits in the CPU cache) and /10000 (~45 MB of bodies, mostly cache misses for both the map and
// LMDB).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "deja/store.h"
#include "store/hit_table.h"

namespace {

using deja::CacheKey;
using deja::Entry;

constexpr int kEntries = 10000;
constexpr size_t kBodySize = 4096;

CacheKey KeyFor(uint64_t i) {
  CacheKey k;
  uint64_t x = i * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t off = 0; off < k.bytes.size(); off += 8) {
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    std::memcpy(k.bytes.data() + off, &x, 8);
  }
  return k;
}

Entry MakeEntry(uint64_t i) {
  Entry e;
  e.key = KeyFor(i);
  e.canonical_request = "{\"messages\":[{\"content\":\"question " + std::to_string(i) +
                        "\",\"role\":\"user\"}],\"model\":\"gpt-4o-mini\",\"temperature\":0}";
  e.response.status = 200;
  e.response.content_type = "application/json";
  e.response.body.assign(kBodySize, 'x');
  e.meta.model = "gpt-4o-mini";
  e.meta.route = "/v1/chat/completions";
  e.meta.input_tokens = 20;
  e.meta.output_tokens = 900;
  return e;
}

// A store in a scratch directory, filled with kEntries entries; removed at exit.
class BenchStore {
 public:
  static BenchStore& Get() {
    static BenchStore* s = new BenchStore();  // leaked on purpose: outlives every benchmark
    return *s;
  }
  deja::Store* store() { return store_.get(); }

 private:
  BenchStore() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/deja-bench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    std::atexit([] { Cleanup(); });
    deja::StoreOptions o;
    o.data_dir = dir_;
    o.map_size_bytes = int64_t{2} << 30;
    auto s = deja::OpenLmdbStore(o);
    if (!s.ok()) {
      std::fprintf(stderr, "store_bench: %s\n", s.status().ToString().c_str());
      std::abort();
    }
    store_ = std::move(*s);
    for (int i = 0; i < kEntries; ++i) {
      if (!store_->Put(MakeEntry(i)).ok()) std::abort();
    }
  }
  static void Cleanup() {
    BenchStore& s = Get();
    s.store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(s.dir_, ec);
  }

  std::string dir_;
  std::unique_ptr<deja::Store> store_;
};

// Lookup order: a fixed scrambled walk over the first `n` keys (7919 is prime, so coprime to n).
std::vector<CacheKey> LookupOrder(int64_t n) {
  std::vector<CacheKey> keys;
  keys.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keys.push_back(KeyFor((static_cast<uint64_t>(i) * 7919) % n));
  return keys;
}

void BM_UnorderedMapGet4KB_Ref(benchmark::State& state) {
  std::unordered_map<CacheKey, Entry, deja::CacheKeyHash> map;
  for (int i = 0; i < kEntries; ++i) map.emplace(KeyFor(i), MakeEntry(i));
  const std::vector<CacheKey> keys = LookupOrder(state.range(0));
  size_t n = 0;
  for (auto _ : state) {
    auto it = map.find(keys[n++ % keys.size()]);
    Entry copy = it->second;
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_UnorderedMapGet4KB_Ref)->Arg(1000)->Arg(kEntries);

void LmdbRead(benchmark::State& state, bool count_hit) {
  deja::Store* store = BenchStore::Get().store();
  const std::vector<CacheKey> keys = LookupOrder(state.range(0));
  size_t n = 0;
  for (auto _ : state) {
    const CacheKey& k = keys[n++ % keys.size()];
    deja::StatusOr<Entry> e = count_hit ? store->Get(k) : store->Peek(k);
    if (!e.ok()) {
      state.SkipWithError(e.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(e);
  }
  state.counters["target_ns"] = 2000;
}

void BM_LmdbGet4KB(benchmark::State& state) { LmdbRead(state, true); }
BENCHMARK(BM_LmdbGet4KB)->Arg(1000)->Arg(kEntries);

void BM_LmdbPeek4KB(benchmark::State& state) { LmdbRead(state, false); }
BENCHMARK(BM_LmdbPeek4KB)->Arg(1000)->Arg(kEntries);

void BM_LmdbPut4KB(benchmark::State& state) {
  deja::Store* store = BenchStore::Get().store();
  static uint64_t next = kEntries;  // new keys each run, so the store grows as in production
  for (auto _ : state) {
    state.PauseTiming();
    Entry e = MakeEntry(next++);
    state.ResumeTiming();
    deja::Status s = store->Put(e);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LmdbPut4KB)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
