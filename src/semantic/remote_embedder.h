// The "remote" embedder: any OpenAI-compatible embeddings endpoint (OpenAI, Ollama, vLLM, TEI,
// llama.cpp) computes the vectors.
//
//   RemoteEmbedderOptions o;
//   o.url = "http://127.0.0.1:11434";     // POSTs http://127.0.0.1:11434/v1/embeddings
//   o.model = "nomic-embed-text";
//   auto e = NewRemoteEmbedder(o, transport, breaker);
//
// Requests are {"model": M, "input": [texts...]}, up to batch_size texts each (EmbedBatch sends
// one request per batch_size texts); answers are the OpenAI shape {"data": [{"index": i,
// "embedding": [floats] or base64 float32}]}, put back in input order by "index" and
// L2-normalized. The first answer fixes the dimension unless one was configured; an answer of
// another dimension is an error. Empty texts are not sent (endpoints reject them): they get the
// all-zero vector, as with every embedder.
//
// Every request goes through the circuit breaker: a call that yields no vectors (transport error,
// timeout, non-2xx status, malformed answer, wrong dimension) counts as a failure; while the
// circuit is open, calls fail at once with Unavailable and send nothing. The API key is sent as
// "Authorization: Bearer" and never appears in an error message.
//
// Errors from Embed/EmbedBatch: Unavailable (endpoint down, 5xx, malformed answer, circuit open),
// DeadlineExceeded (timeout), PermissionDenied (401/403), NotFound (404: check the URL and model),
// ResourceExhausted (429), InvalidArgument (other 4xx), FailedPrecondition (wrong dimension).
//
// Thread safety: Embed and EmbedBatch may be called concurrently; the transport must allow it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "semantic/circuit_breaker.h"
#include "semantic/embedder.h"
#include "semantic/embedding_transport.h"

namespace deja::semantic {

struct RemoteEmbedderOptions {
  std::string url;      // base URL: "https://api.openai.com", "http://127.0.0.1:11434"
  std::string model;    // sent as "model"
  std::string api_key;  // "" sends no Authorization header
  int dimensions = 0;   // 0: taken from the first answer
  int timeout_ms = 10000;
  int batch_size = 64;  // texts per request
};

// The endpoint a base URL names: base + "/v1/embeddings", or base + "/embeddings" when the base
// already ends in "/v1" (the form OPENAI_BASE_URL takes). Trailing slashes are ignored.
std::string EmbeddingsUrl(std::string_view base_url);

// REQUIRES: transport and breaker non-null (MakeEmbedder checks options first).
std::unique_ptr<Embedder> NewRemoteEmbedder(RemoteEmbedderOptions options,
                                            std::shared_ptr<EmbeddingTransport> transport,
                                            std::shared_ptr<CircuitBreaker> breaker);

}  // namespace deja::semantic
