// Vector index search: HNSW (hnswlib adapter), FAISS IVF-PQ and TurboQuant code scans against an
// exact flat scan of the same vectors, in the same run.
//
// Reference: BM_FlatSearch_Ref, the exact top-10 by scanning every float vector (also the ground
// truth of every recall figure). Each benchmark iteration is one top-10 query, cycling through
// the query set. Counters (not timed; measured once per configuration over all queries):
//   recall_at_10    fraction of the exact top 10 found
//   p50_us, p99_us  per-query latency percentiles (thread CPU time), one pass over the queries
//   bytes_per_vec   VectorIndex::MemoryBytes() / size(): memory per entry
//   build_s         wall time to build the index (HNSW: AddBatch with 2 threads; IVF-PQ: AddBatch
//                   with 1 OpenMP thread, i.e. k-means training on a sample plus encoding all)
//   nlist, pq_m     IVF-PQ only: clusters and code bytes chosen automatically at training
//   build_cpu_s     IVF-PQ only: process CPU time of the build (all threads, BLAS included)
//   transition_s    IVF-PQ only: wall time of the one Add that reaches the default train size
//   transition_cpu_s  (10,000 vectors) and trains, encoding the 10,000 vectors present; and its
//                   process CPU time
//   ip_mae, ip_bias TurboQuant only: mean |error| and mean error of estimated inner products over
//                   random (query, stored vector) pairs
// Target: HNSW search at most 1 ms (target_ns) with recall_at_10 >= 0.95, set for 1M vectors on
// the project's 2-vCPU VMs.
//
// Data: 384-dimensional unit vectors (the size of MiniLM/BGE-small embeddings), synthetic:
//   DEJA_INDEX_BENCH_DATA=clustered (default)  points around N/100 random topic centres
//       (cos to centre ~0.78), queries drawn the same way: embeddings of real text cluster by topic
//   DEJA_INDEX_BENCH_DATA=random  i.i.d. random directions: no structure at all, the worst case
//       for a graph index (every point is about equally far from every other)
//   DEJA_INDEX_BENCH_N=100000 (default)  number of vectors; 1000000 is the headline case (HNSW
//       build ~10+ minutes on 2 cores, several GB of memory), so it is opt-in.
//   DEJA_INDEX_BENCH_EFC=200 (default)  HNSW ef_construction (lower builds faster, worse graph).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "semantic/flat_index.h"
#include "semantic/hnsw_index.h"
#include "semantic/ivfpq_index.h"
#include "semantic/turbo_quant.h"
#include "semantic/vector_index.h"

namespace {

using deja::IndexOptions;
using deja::VectorIndex;
using Clock = std::chrono::steady_clock;

constexpr int kDims = 384;
constexpr size_t kQueries = 500;
constexpr size_t kK = 10;
constexpr uint64_t kSeed = 42;

size_t EnvSize(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

bool Clustered() {
  const char* v = std::getenv("DEJA_INDEX_BENCH_DATA");
  return !(v && std::string(v) == "random");
}

void Normalize(float* x) {
  double s = 0;
  for (int j = 0; j < kDims; ++j) s += double{x[j]} * x[j];
  const float inv = static_cast<float>(1 / std::sqrt(s));
  for (int j = 0; j < kDims; ++j) x[j] *= inv;
}

// n unit vectors; `centres` (when not empty) are the topic centres points gather around.
std::vector<float> Generate(size_t n, const std::vector<float>& centres, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const size_t ncentres = centres.size() / kDims;
  std::vector<float> out(n * kDims);
  // Noise of length 0.8 around a unit centre: cos(point, centre) ~ 0.78.
  const float spread = 0.8f / std::sqrt(static_cast<float>(kDims));
  for (size_t i = 0; i < n; ++i) {
    float* x = out.data() + i * kDims;
    if (ncentres == 0) {
      for (int j = 0; j < kDims; ++j) x[j] = g(rng);
    } else {
      const float* c = centres.data() + (rng() % ncentres) * kDims;
      for (int j = 0; j < kDims; ++j) x[j] = c[j] + spread * g(rng);
    }
    Normalize(x);
  }
  return out;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// CPU time of the calling thread: on a shared VM wall time mostly measures the neighbours.
double ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// CPU time of the whole process (every thread, BLAS helpers included), in seconds.
double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Measured {
  double recall = 0, p50_us = 0, p99_us = 0;
};

// The shared data set, its ground truth and the indexes, built once on first use.
struct World {
  size_t n = 0;
  std::vector<float> data, queries;
  std::vector<uint64_t> ids;
  std::unique_ptr<VectorIndex> flat;
  std::vector<std::vector<VectorIndex::Hit>> truth;
  std::map<std::string, std::unique_ptr<VectorIndex>> indexes;
  std::map<std::string, double> build_s, build_cpu_s;
  std::map<std::string, Measured> measured;

  std::span<const float> Query(size_t i) const {
    return std::span<const float>(queries).subspan(i * kDims, kDims);
  }

  static World& Get() {
    static World* w = [] {
      auto* w = new World();
      w->Init();
      return w;
    }();
    return *w;
  }

  void Init() {
    n = EnvSize("DEJA_INDEX_BENCH_N", 100000);
    std::vector<float> centres;
    if (Clustered()) centres = Generate(std::max<size_t>(1, n / 100), {}, kSeed);
    data = Generate(n, centres, kSeed + 1);
    queries = Generate(kQueries, centres, kSeed + 2);
    ids.resize(n);
    for (size_t i = 0; i < n; ++i) ids[i] = i;
    IndexOptions o;
    o.kind = "flat";
    o.dimensions = kDims;
    flat = std::move(*deja::MakeIndex(o));
    (void)flat->AddBatch(ids, data);
    for (size_t i = 0; i < kQueries; ++i) truth.push_back(*flat->Search(Query(i), kK));
    std::fprintf(stderr, "index_bench: %zu x %d %s vectors, %zu queries\n", n, kDims,
                 Clustered() ? "clustered" : "random", kQueries);
  }

  VectorIndex& Index(const std::string& name, const IndexOptions& o, int threads) {
    auto it = indexes.find(name);
    if (it != indexes.end()) return *it->second;
    auto index = std::move(*deja::MakeIndex(o));
    const auto start = Clock::now();
    const double cpu_start = ProcessCpuSeconds();
    deja::Status s = index->AddBatch(ids, data, threads);
    if (!s.ok())
      std::fprintf(stderr, "index_bench: build %s: %s\n", name.c_str(), s.ToString().c_str());
    build_s[name] = Seconds(start);
    build_cpu_s[name] = ProcessCpuSeconds() - cpu_start;
    std::fprintf(stderr, "index_bench: built %s in %.1f s (%.1f s CPU)\n", name.c_str(),
                 build_s[name], build_cpu_s[name]);
    return *(indexes[name] = std::move(index));
  }

  // Measured once per configuration `key` (the benchmark function runs once per repetition).
  const Measured& Measure(const std::string& key, const VectorIndex& index) {
    auto it = measured.find(key);
    if (it == measured.end()) it = measured.emplace(key, MeasureNow(index)).first;
    return it->second;
  }

  Measured MeasureNow(const VectorIndex& index) const {
    Measured m;
    std::vector<double> lat;
    for (size_t i = 0; i < kQueries; ++i) {
      const double start = ThreadCpuMicros();
      auto hits = index.Search(Query(i), kK);
      lat.push_back(ThreadCpuMicros() - start);
      std::unordered_set<uint64_t> want;
      for (const auto& h : truth[i]) want.insert(h.id);
      for (const auto& h : *hits) m.recall += want.count(h.id);
    }
    m.recall /= static_cast<double>(kQueries * kK);
    std::sort(lat.begin(), lat.end());
    m.p50_us = lat[lat.size() / 2];
    m.p99_us = lat[lat.size() * 99 / 100];
    return m;
  }
};

void RunQueries(benchmark::State& state, const VectorIndex& index) {
  const World& w = World::Get();
  size_t i = 0;
  for (auto _ : state) {
    auto hits = index.Search(w.Query(i), kK);
    benchmark::DoNotOptimize(hits);
    if (++i == kQueries) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void Report(benchmark::State& state, const VectorIndex& index, const Measured& m) {
  state.counters["recall_at_10"] = m.recall;
  state.counters["p50_us"] = m.p50_us;
  state.counters["p99_us"] = m.p99_us;
  state.counters["bytes_per_vec"] =
      static_cast<double>(index.MemoryBytes()) / static_cast<double>(index.size());
}

void BM_FlatSearch_Ref(benchmark::State& state) {
  World& w = World::Get();
  Report(state, *w.flat, w.Measure("flat", *w.flat));
  RunQueries(state, *w.flat);
}
BENCHMARK(BM_FlatSearch_Ref)->Unit(benchmark::kMicrosecond);

// Arg: ef_search.
void BM_HnswSearch(benchmark::State& state) {
  World& w = World::Get();
  IndexOptions o;
  o.kind = "hnsw";
  o.dimensions = kDims;
  o.max_elements = w.n;
  o.ef_construction = static_cast<int>(EnvSize("DEJA_INDEX_BENCH_EFC", 200));
  auto& index = static_cast<deja::HnswIndex&>(w.Index("hnsw", o, 2));
  index.set_ef_search(static_cast<int>(state.range(0)));
  Report(state, index, w.Measure("hnsw" + std::to_string(state.range(0)), index));
  state.counters["build_s"] = w.build_s["hnsw"];
  state.counters["target_ns"] = 1e6;
  RunQueries(state, index);
}
BENCHMARK(BM_HnswSearch)
    ->Arg(32)
    ->Arg(64)
    ->Arg(128)
    ->Arg(256)
    ->Arg(512)
    ->Unit(benchmark::kMicrosecond);

// The one-time cost of the flat -> IVF-PQ transition with default options: the Add of the
// 10,000th vector trains and encodes. Measured once: {wall seconds, process CPU seconds}.
std::pair<double, double> IvfPqTransitionSeconds(const World& w) {
  static const std::pair<double, double> seconds = [&] {
    IndexOptions o;
    o.kind = "ivfpq";
    o.dimensions = kDims;
    auto index = std::move(*deja::MakeIndex(o));
    const auto& ivf = static_cast<const deja::IvfPqIndex&>(*index);
    const size_t n = std::min(w.n, ivf.train_size());
    (void)index->AddBatch(std::span(w.ids).first(n - 1), std::span(w.data).first((n - 1) * kDims));
    const auto start = Clock::now();
    const double cpu_start = ProcessCpuSeconds();
    deja::Status s = index->Add(w.ids[n - 1], std::span(w.data).subspan((n - 1) * kDims, kDims));
    const double t = Seconds(start), cpu = ProcessCpuSeconds() - cpu_start;
    std::fprintf(stderr,
                 "index_bench: ivfpq transition at %zu vectors: %.2f s, %.2f s CPU (%s, trained "
                 "%d)\n",
                 n, t, cpu, s.ToString().c_str(), ivf.trained());
    return std::make_pair(t, cpu);
  }();
  return seconds;
}

// Args: nprobe, rerank (1: floats kept, rerank_factor 10 x k candidates rescored exactly; 0: codes
// only, estimated scores).
void BM_IvfPqSearch(benchmark::State& state) {
  World& w = World::Get();
  IndexOptions o;
  o.kind = "ivfpq";
  o.dimensions = kDims;
  o.rerank = state.range(1) != 0;
  const std::string name = o.rerank ? "ivfpq" : "ivfpq_codes";
  auto& index = static_cast<deja::IvfPqIndex&>(w.Index(name, o, 1));
  index.set_nprobe(static_cast<int>(state.range(0)));
  Report(state, index, w.Measure(name + std::to_string(state.range(0)), index));
  state.counters["build_s"] = w.build_s[name];
  state.counters["build_cpu_s"] = w.build_cpu_s[name];
  state.counters["nlist"] = index.nlist();
  state.counters["pq_m"] = index.pq_m();
  const auto [transition_s, transition_cpu_s] = IvfPqTransitionSeconds(w);
  state.counters["transition_s"] = transition_s;
  state.counters["transition_cpu_s"] = transition_cpu_s;
  RunQueries(state, index);
}
BENCHMARK(BM_IvfPqSearch)
    ->Args({16, 1})
    ->Args({32, 1})
    ->Args({64, 1})
    ->Args({128, 1})
    ->Args({256, 1})
    ->Args({64, 0})
    ->Args({256, 0})
    ->Unit(benchmark::kMicrosecond);

// Args: bits per coordinate, rerank (1: floats kept, candidates rescored; 0: codes only).
void BM_FlatTurboQuant(benchmark::State& state) {
  World& w = World::Get();
  IndexOptions o;
  o.kind = "flat";
  o.dimensions = kDims;
  o.compress = true;
  o.compress_bits = static_cast<int>(state.range(0));
  o.rerank = state.range(1) != 0;
  const std::string name = "tq" + std::to_string(o.compress_bits) + (o.rerank ? "r" : "");
  VectorIndex& index = w.Index(name, o, 1);
  Report(state, index, w.Measure(name, index));
  state.counters["build_s"] = w.build_s[name];
  // Estimation error over random pairs, with a quantizer identical to the index's.
  auto tq = *deja::tq::TurboQuantizer::Create(kDims, o.compress_bits, o.seed);
  std::vector<uint8_t> code(tq.code_bytes());
  double err = 0, abs_err = 0;
  const size_t pairs = 2000;
  for (size_t p = 0; p < pairs; ++p) {
    const float* x = w.data.data() + (p * 7919 % w.n) * kDims;
    tq.Encode(std::span<const float>(x, kDims), code.data());
    const auto q = w.Query(p % kQueries);
    double exact = 0;
    for (int j = 0; j < kDims; ++j) exact += double{x[j]} * q[j];
    const double e = tq.Estimate(tq.Prepare(q), code.data()) - exact;
    err += e;
    abs_err += std::abs(e);
  }
  state.counters["ip_mae"] = abs_err / pairs;
  state.counters["ip_bias"] = err / pairs;
  state.counters["code_bytes"] = static_cast<double>(tq.code_bytes());
  RunQueries(state, index);
}
BENCHMARK(BM_FlatTurboQuant)
    ->Args({4, 1})
    ->Args({3, 1})
    ->Args({4, 0})
    ->Args({3, 0})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
