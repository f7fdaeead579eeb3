// Embedding latency of a 20-word question for each of the semantic cache's embedders.
//
// Reference: BM_LowercaseCopy_Ref, a copy of the question with ASCII lower-casing: the least any
// text embedder does with its input, so `vs ref` reads as "how many plain passes over the text".
// Targets (median CPU time, counter target_ns; set for the 2-vCPU development VMs): lexical and
// words at most 200 µs per embedding *including lookup* (the words embedder's vocabulary lookups;
// BM_MemoMiss also pays the memo's BLAKE3 key, lock, insert and eviction). The lexical embedder
// should be well under 100 µs (it is a few µs).
//   BM_Lexical/D       lexical embedder, D hashed dimensions, no memo
//   BM_Words           words embedder over build/word-vectors/wink-sg-100d.dwv (skipped if absent;
//                      scripts/fetch-word-vectors.sh makes it, DEJA_WORD_VECTORS overrides)
//   BM_StaticWordPiece model2vec fixture test-model-float32 (BERT WordPiece tokenizer, 2 dims)
//   BM_StaticUnigram   model2vec fixture test-model-vocab-quantized (Unigram tokenizer, 64 dims)
//   BM_BertMiniLm      bert embedder, all-MiniLM-L6-v2's shape (6 layers, 384 wide, 12 heads,
//                      real tokenizer from shared/testdata/minilm-tokenizer) with random weights
//                      written to a temporary directory at start (90 MB; pretrained weights are
//                      not available here, and latency does not depend on their values).
//                      Target: at most 10 ms on one core.
//   BM_MemoMiss        MakeEmbedder("lexical") with its default 4096-entry memo, cycling through
//                      8192 distinct questions so every call misses
//   BM_MemoHit         the same memo, the same question every time
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bert_fixture.h"
#include "semantic/bert_embedder.h"
#include "semantic/embedder.h"
#include "semantic/lexical_embedder.h"
#include "semantic/static_embedder.h"
#include "semantic/words_embedder.h"

namespace {

using deja::semantic::Embedder;

// 20 words.
const std::string kQuestion =
    "How do I configure retries with exponential backoff for failed HTTP requests in my Python "
    "service using the requests library?";

std::string SourceDir() {
  std::string file = __FILE__;  // .../bench/embed_bench.cc
  file = file.substr(0, file.rfind('/'));
  return file.substr(0, file.rfind('/'));
}

void Run(benchmark::State& state, const Embedder& e, const std::string& text) {
  std::vector<float> v;
  for (auto _ : state) {
    if (!e.Embed(text, &v).ok()) {
      state.SkipWithError("Embed failed");
      return;
    }
    benchmark::DoNotOptimize(v.data());
  }
}

void BM_LowercaseCopy_Ref(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    out.assign(kQuestion);
    for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_LowercaseCopy_Ref);

void BM_Lexical(benchmark::State& state) {
  auto e = deja::semantic::NewLexicalEmbedder(static_cast<int>(state.range(0)));
  Run(state, *e, kQuestion);
  state.counters["target_ns"] = 200000;
}
BENCHMARK(BM_Lexical)->Arg(256)->Arg(1024);

void BM_Words(benchmark::State& state) {
  const char* env = std::getenv("DEJA_WORD_VECTORS");
  const std::string path = env ? env : SourceDir() + "/build/word-vectors/wink-sg-100d.dwv";
  auto e = deja::semantic::LoadWordsEmbedder(path);
  if (!e.ok()) {
    state.SkipWithError(("no word vectors: " + e.status().message()).c_str());
    return;
  }
  Run(state, **e, kQuestion);
  state.counters["target_ns"] = 200000;
}
BENCHMARK(BM_Words);

void Static(benchmark::State& state, const char* model) {
  auto e = deja::semantic::LoadStaticEmbedder(std::string(DEJA_SHARED_DIR) +
                                              "/testdata/model2vec/" + model);
  if (!e.ok()) {
    state.SkipWithError(("fixture missing: " + e.status().message()).c_str());
    return;
  }
  Run(state, **e, kQuestion);
}
void BM_StaticWordPiece(benchmark::State& state) { Static(state, "test-model-float32"); }
void BM_StaticUnigram(benchmark::State& state) { Static(state, "test-model-vocab-quantized"); }
BENCHMARK(BM_StaticWordPiece);
BENCHMARK(BM_StaticUnigram);

void BM_BertMiniLm(benchmark::State& state) {
  const std::string dir = std::filesystem::temp_directory_path().string() + "/deja_bench_minilm_" +
                          std::to_string(::getpid());
  if (!deja::bench::WriteMiniLmShapedModel(
          dir, std::string(DEJA_SHARED_DIR) + "/testdata/minilm-tokenizer")) {
    state.SkipWithError("shared/testdata/minilm-tokenizer not found");
    return;
  }
  auto e = deja::semantic::LoadBertEmbedder(dir);
  std::filesystem::remove_all(dir);  // Loaded into memory; the files are no longer needed.
  if (!e.ok()) {
    state.SkipWithError(("load failed: " + e.status().message()).c_str());
    return;
  }
  Run(state, **e, kQuestion);
  state.counters["tokens"] =
      static_cast<double>(deja::semantic::BertEmbedderTokenIds(**e, kQuestion).size());
  state.counters["target_ns"] = 10e6;
}
BENCHMARK(BM_BertMiniLm)->Unit(benchmark::kMillisecond);

std::unique_ptr<Embedder> MemoLexical() {
  deja::semantic::EmbedderOptions o;  // lexical, 256 dims, 4096 memo entries
  return std::move(*deja::semantic::MakeEmbedder(o));
}

void BM_MemoMiss(benchmark::State& state) {
  auto e = MemoLexical();
  std::vector<std::string> texts;
  for (int i = 0; i < 8192; ++i) texts.push_back(kQuestion + " #" + std::to_string(i));
  std::vector<float> v;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(e->Embed(texts[i], &v).ok());
    i = (i + 1) % texts.size();
  }
  state.counters["target_ns"] = 200000;
}
BENCHMARK(BM_MemoMiss);

void BM_MemoHit(benchmark::State& state) {
  auto e = MemoLexical();
  Run(state, *e, kQuestion);
}
BENCHMARK(BM_MemoHit);

}  // namespace

BENCHMARK_MAIN();
