// Options of the caching gateway (`deja serve`). Every field can be set in deja.toml, by an
// environment variable or by a flag; see deja.example.toml for the annotated list. Defaults here
// are the documented defaults.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "deja/status.h"
#include "deja/store.h"

namespace deja {

struct ServerOptions {
  std::string listen = "127.0.0.1:8080";  // loopback by default: exposing deja is a choice
  int io_threads = 0;                     // 0: one per core
  int upstream_threads = 256;             // concurrent misses / proxied requests in flight
  int64_t max_body_bytes = 32 << 20;      // larger request bodies get 413
  int64_t max_header_bytes = 64 << 10;    // larger request heads get 431
  int max_connections = 4096;
  int idle_timeout_ms = 60'000;
  int max_json_depth = 128;        // deeper request JSON gets 400
  int shutdown_drain_ms = 30'000;  // SIGTERM: time for in-flight requests to finish
  std::string admin_token;         // empty: admin endpoints refuse every call
  bool access_log = true;          // one JSON line per request on stderr
  // "live" (the cache), or a test mode: "record" (every request goes upstream and is stored),
  // "replay" (answers only from recordings, never upstream), "record-missing" (replay what is
  // recorded, record the rest), or "shadow" (observe only: every request goes upstream, and
  // GET /deja/shadow reports what the cache would have saved and how often it would have been
  // wrong). README.md, "Test mode" and "Shadow mode".
  std::string mode = "live";
  // Shadow mode writes its report to <data_dir>/shadow-report.json this often, and on shutdown.
  int shadow_report_interval_s = 60;
};

struct UpstreamsOptions {
  std::string openai = "https://api.openai.com";
  std::string anthropic = "https://api.anthropic.com";
  int connect_timeout_ms = 10'000;
  int read_timeout_ms = 600'000;  // longest silence between two bytes of an answer
  bool verify_tls = true;
  std::string ca_file;  // extra CA bundle (PEM); empty: the system store
};

struct CachePolicyOptions {
  bool enabled = true;
  // Routes cached (paths); the others are proxied uncached.
  std::vector<std::string> routes = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
                                     "/v1/responses", "/v1/messages"};
  std::vector<std::string> models;        // empty: every model; else only these
  int64_t default_ttl_s = 0;              // 0: entries never expire
  bool cache_nonzero_temperature = true;  // false: temperature > 0 or unset is bypassed
  // "api-key": entries scoped by the caller's API key. "shared": one scope for every caller (only
  // for deployments whose callers may see each other's answers).
  std::string tenant_isolation = "api-key";
  int single_flight_wait_ms = 120'000;  // followers of an identical in-flight miss wait this long
  // Normalization rules (docs/keys.md).
  std::vector<std::string> ignore_pointers;
  std::vector<std::string> strip_patterns;
  bool alias_tool_call_ids = true;
};

// A cassette: recordings in one reviewable file instead of the data directory (test modes).
struct CassetteOptions {
  std::string path;  // empty: no cassette, the store is the data directory
  // JSON pointers into cassette records ("/request/…", "/response/…", "*" wildcards) whose values
  // are written as "[REDACTED]".
  std::vector<std::string> redact_pointers;
  std::string used_log;  // file the keys of used records are appended to (for cassette prune)
};

// The semantic tier (README.md, "Semantic cache"; docs/semantic.md): a differently worded question
// with the same meaning, in the same context and scope, is answered from the cache. Off by default.
struct SemanticOptions {
  bool enabled = false;
  // Embedder (src/semantic/embedder.h): "lexical" (built in, needs no files), "static", "words",
  // "bert" (these three need model_dir).
  std::string embedder = "lexical";
  std::string model_dir;
  int dimensions = 256;  // lexical only
  // Cosine similarity a cached question must reach (per request: X-Deja-Similarity). Per embedder:
  // lexical scores rewordings that keep the content words 0.7-0.95.
  double threshold = 0.85;
  int query_turns = 1;  // user turns compared by meaning (the rest of the context must agree)
  // vCache: the largest acceptable false-hit rate; entries are verified upstream until evidence
  // shows their answers hold at the similarity asked. 1 turns verification off.
  double max_false_hit_rate = 0.05;
  // What max_false_hit_rate bounds (src/semantic/vcache_policy.h): "served" (a served semantic
  // answer is wrong at most that often; matches not yet proven are forwarded and verified) or
  // "lookups" (vCache's guarantee: per lookup that finds a match; serves more, wrong more often).
  std::string false_hit_bound = "served";
  double audit_rate =
      0.01;  // share of confident semantic hits verified anyway (keeps evidence fresh)
  // How a verification compares answers: "structured" (answer_compare.h fingerprints), "exact"
  // (identical bytes of the assembled body) or "embedding" (cosine of the answers' texts >=
  // answer_similarity).
  std::string verify = "structured";
  double answer_similarity = 0.9;
  bool templates = true;              // fill ids/e-mails/URLs that differ (answer_template.h)
  bool template_fill_values = false;  // also numbers, dates and quoted strings
  double min_admission_score = 0.4;   // quality_filter.h AdmissionScore::min_score
  double near_duplicate_similarity = 0.95;
  int hnsw_threshold = 4096;  // a partition switches from exact flat search to HNSW above this
  int save_interval_s = 300;  // the index is saved this often (and on shutdown); 0: shutdown only
  int64_t seed = 0;           // exploration randomness; 0: random
  // Index of a partition past hnsw_threshold: "hnsw" (default) or "ivfpq" (FAISS IVF-PQ: much
  // faster to build for very large partitions, slower to search here; docs/semantic.md).
  std::string large_index = "hnsw";
  // embedder = "remote": an OpenAI-compatible /v1/embeddings endpoint (OpenAI, Ollama, vLLM, TEI).
  // When it fails, its circuit breaker opens and requests fall back to exact-only (counted).
  std::string remote_url;
  std::string remote_model;
  std::string remote_api_key_env = "OPENAI_API_KEY";  // the variable holding the key, if any
  int remote_timeout_ms = 10'000;
};

// Price per million tokens, for the "dollars saved" metric.
struct ModelPrice {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
};

struct GatewayOptions {
  ServerOptions server;
  UpstreamsOptions upstreams;
  CachePolicyOptions cache;
  StoreOptions store;
  CassetteOptions cassette;
  SemanticOptions semantic;
  std::map<std::string, ModelPrice> prices;  // by model name; a "*" entry applies to the rest

  // InvalidArgument naming the first bad field.
  Status Validate() const;
};

}  // namespace deja
