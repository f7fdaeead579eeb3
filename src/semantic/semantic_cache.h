// SemanticCache: the in-memory semantic tier of deja's cache. It answers "which cached entry asked
// this question in other words?" and learns, per entry, how far it may be trusted.
//
// Entries live in partitions keyed by the context signature (semantic_query.h): tenant, namespace,
// route, answer-affecting headers, model, sampling parameters, system prompt, tools and earlier
// turns must all agree before two questions are compared by meaning. Each partition has its own
// vector index: exact flat search while small, HNSW (or IVF-PQ) once it holds more than
// hnsw_threshold entries. The index holds the only copy of an entry's vector; Snapshot and Adopt
// read it back (VectorIndex::GetVector). If building the large index fails, the partition stays
// flat (still exact, only slower), the failure is counted (large_index_failures) and the switch is
// tried again once the partition has doubled.
//
//   SemanticCache cache(options, embedder);
//   StatusOr<PreparedQuery> q = cache.Prepare(route, normalized_body, scope);   // split + embed
//   for (const Candidate& c : cache.Candidates(*q, /*threshold=*/0.8)) { ... }  // best first
//   ExploreDecision d = cache.DecideExplore(*q, c.key, c.similarity);  // vCache (vcache_policy.h)
//   cache.RecordVerification(*q, c.key, c.similarity, correct);
//   cache.Admit(*q, key, answer_text, cost);   // after the answer is stored
//
// The cache never reads the store: the caller fetches a candidate's answer by its key and calls
// Remove when the store no longer has it (deleted, expired, evicted): at once when the store
// reports the removal (StoreRemovalListener; the gateway relays it), else lazily when a lookup
// finds the entry gone. Entries rebuilt from the store (semantic_index_file.h) do not know their
// tenant: they sit in "orphan" partitions (the signature with a tenant marker and no headers) and
// come back as candidates with `orphan` set; the caller must prove the candidate belongs to the
// requester (the cache key recomputed with the requester's scope equals the candidate's key) and
// then calls Adopt, which moves it into its full partition.
//
// Thread safety: every method may be called concurrently (a reader-writer lock over the partition
// and entry maps; each index has its own lock). Prepare embeds outside any lock; call it on worker
// threads, never on an I/O thread (an embedder may take milliseconds).
// Ownership: the embedder is shared (the caller may keep a reference, e.g. to read a breaker).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/json.h"
#include "core/route.h"
#include "deja/status.h"
#include "deja/store.h"
#include "semantic/embedder.h"
#include "semantic/flat_index.h"
#include "semantic/guards.h"
#include "semantic/quality_filter.h"
#include "semantic/semantic_query.h"
#include "semantic/vcache_policy.h"
#include "semantic/vector_index.h"

namespace deja::semantic {

using Signature = std::array<uint8_t, 32>;

// The tenant recorded for entries rebuilt from the store (whose tenant is unknown).
inline constexpr std::string_view kOrphanTenant = "deja semantic orphan";

struct SemanticCacheOptions {
  int query_turns = 1;                           // QueryOptions::query_turns
  size_t candidates = 4;                         // nearest entries looked at per lookup
  double max_false_hit_rate = 0.05;              // vCache delta; 1 turns verification off
  FalseHitBound bound = FalseHitBound::kServed;  // what delta bounds (vcache_policy.h)
  double audit_rate = 0.01;                      // confident hits verified anyway
  double confidence_z = 1.96;                    // Wilson bound width
  size_t max_observations = 128;                 // per entry, most recent kept
  size_t hnsw_threshold = 4096;      // a partition switches from flat to HNSW above this size
  std::string large_index = "hnsw";  // the index kind past hnsw_threshold: "hnsw" or "ivfpq"
  AdmissionOptions admission;
  uint64_t seed = 0;  // exploration randomness; 0: seeded from std::random_device
};

struct PreparedQuery {
  Route route = Route::kOther;
  std::string name_space;
  SemanticQuery split;           // with the caller's full scope
  Signature orphan_signature{};  // the partition a rebuilt entry of this context sits in
  // The evidence pool of this request: tenant, route and model. The pooled vCache evidence is kept
  // per pool, so one tenant's or model's traffic never decides what another's is served.
  Signature pool{};
  std::vector<float> vector;  // embedding of split.query
  GuardFeatures guard;        // of split.query, extracted once per request
  int64_t embed_us = 0;
};

struct Candidate {
  CacheKey key;
  float similarity = 0;
  std::string cached_question;
  bool guard_ok = false;
  std::string guard_reason;  // guards.h GuardResult::reason when !guard_ok
  bool orphan = false;       // tenant unknown: verify the key, then Adopt
};

struct ExploreDecision {
  bool explore = false;  // verify upstream instead of serving
  bool audit = false;    // explore although confident (a sample of would-be served hits)
  VCacheDecision decision;
};

// One entry as saved and restored (semantic_index_file.h).
struct PersistedEntry {
  CacheKey key;
  Signature partition{};
  Signature pool{};  // zero for entries rebuilt from the store (unknown until adopted)
  bool orphan = false;
  std::string question;
  std::vector<float> vector;
  std::vector<VerificationObservation> observations;
};

class SemanticCache {
 public:
  SemanticCache(SemanticCacheOptions options, std::shared_ptr<const Embedder> embedder);
  ~SemanticCache();

  const Embedder& embedder() const { return *embedder_; }
  const SemanticCacheOptions& options() const { return options_; }

  // Splits the normalized request and embeds its query. FailedPrecondition "not semantic-eligible:
  // ..." for requests the semantic tier does not handle (not an error); anything else is the
  // embedder failing.
  StatusOr<PreparedQuery> Prepare(Route route, const json::Value& normalized_body,
                                  const ContextScope& scope) const;
  // Entries of the query's partition (and its orphan partition) with similarity >= threshold,
  // best first, at most options().candidates, each with its guard check against the query.
  // Errors: InvalidArgument for a vector of the wrong dimension, or the index search's error (the
  // caller should treat the lookup as a miss and count the failure).
  StatusOr<std::vector<Candidate>> Candidates(const PreparedQuery& query, double threshold) const;

  // vCache: should this would-be hit be verified upstream instead of served?
  // `query` is the request being answered: its pool's evidence counts with the entry's own.
  ExploreDecision DecideExplore(const PreparedQuery& query, const CacheKey& key, float similarity);
  // Adds the outcome to the entry's observations (if still indexed) and to the pooled evidence.
  void RecordVerification(const PreparedQuery& query, const CacheKey& key, float similarity,
                          bool correct);
  // Verifications in the pooled evidence of all pools (after fading, see SimilarityCalibration).
  int64_t pooled_observations() const;
  size_t evidence_pools() const;

  // Quality filter, admission score, near-duplicate check, then insertion. `cost` in tokens.
  // When the near-duplicate search or the insertion fails the entry is not admitted and the
  // reason starts with "index: ". `answers_differently`: an entry verified not to answer this
  // question (its match was wrong), left out of the near-duplicate and novelty check.
  AdmissionDecision Admit(const PreparedQuery& query, const CacheKey& key,
                          std::string_view answer_text, double cost, uint64_t frequency = 1,
                          const CacheKey* answers_differently = nullptr);
  // Moves an orphan into the query's full partition (its tenant is now proven).
  void Adopt(const CacheKey& key, const PreparedQuery& query);
  // Removes the entry; false when it was not indexed.
  bool Remove(const CacheKey& key);
  bool Contains(const CacheKey& key) const;

  size_t size() const;
  size_t partitions() const;
  size_t orphans() const;
  // Failed attempts to rebuild a partition as the large index (a partition tries again only once
  // it has doubled), and the last such error (OK if none).
  size_t large_index_failures() const;
  Status last_large_index_error() const;

  std::vector<PersistedEntry> Snapshot() const;
  // Adds entries (e.g. loaded from disk, or rebuilt); entries whose vector has the wrong dimension
  // are skipped and counted in the returned status message (InvalidArgument) after the rest load.
  // An entry whose key is already indexed keeps its indexed state (an admission made while a
  // deferred load runs is newer than the saved copy; semantic_setup.h).
  Status Restore(std::vector<PersistedEntry> entries);

 private:
  struct Partition {
    // Exactly one is set: the exact flat index while the partition is small, then the large one.
    // The flat index's contents (ids and floats) are what the switch rebuilds from.
    std::unique_ptr<FlatIndex> flat;
    std::unique_ptr<VectorIndex> large;
    // After a failed switch to the large index: the size at which to try again.
    size_t retry_large_at = 0;

    VectorIndex& index() const { return flat ? static_cast<VectorIndex&>(*flat) : *large; }
  };
  struct EntryState {
    CacheKey key;
    Signature partition{};
    Signature pool{};  // PreparedQuery::pool of the request that admitted (or adopted) it
    bool orphan = false;
    std::string question;
    GuardFeatures guard;  // of question, extracted once when the entry joins
    std::vector<VerificationObservation> observations;
    // The vector lives only in the partition's index.
  };

  static uint64_t IdOf(const CacheKey& key);
  // Under the exclusive lock.
  Status InsertLocked(EntryState entry, std::span<const float> vector);
  bool RemoveLocked(uint64_t id);
  // Rebuilds a flat partition as the large index; on failure keeps the flat one and counts it.
  void SwitchToLargeLocked(Partition& part);
  // Under the lock (shared is enough).
  Status SearchLocked(const Signature& sig, bool orphan, const PreparedQuery& q, double threshold,
                      std::vector<Candidate>* out) const;
  IndexOptions IndexOptionsFor(std::string_view kind) const;

  const SemanticCacheOptions options_;
  std::shared_ptr<const Embedder> embedder_;
  mutable std::shared_mutex mu_;
  std::map<Signature, Partition> partitions_;
  std::unordered_map<uint64_t, EntryState> entries_;
  size_t orphans_ = 0;
  size_t large_index_failures_ = 0;                   // under mu_
  Status last_large_index_error_;                     // under mu_
  std::map<Signature, SimilarityCalibration> pools_;  // under mu_
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

}  // namespace deja::semantic
