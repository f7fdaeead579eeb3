#include "semantic/semantic_cache.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "semantic/guards.h"

namespace deja::semantic {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SemanticCache::SemanticCache(SemanticCacheOptions options, std::shared_ptr<const Embedder> embedder)
    : options_(std::move(options)), embedder_(std::move(embedder)) {
  rng_.seed(options_.seed != 0 ? options_.seed : std::random_device{}());
}

SemanticCache::~SemanticCache() = default;

uint64_t SemanticCache::IdOf(const CacheKey& key) {
  uint64_t id = 0;
  std::memcpy(&id, key.bytes.data(), sizeof id);
  return id;
}

StatusOr<PreparedQuery> SemanticCache::Prepare(Route route, const json::Value& normalized_body,
                                               const ContextScope& scope) const {
  QueryOptions qo;
  qo.query_turns = options_.query_turns;
  PreparedQuery q;
  q.route = route;
  q.name_space = std::string(scope.cache_namespace);
  DEJA_ASSIGN_OR_RETURN(q.split, SplitSemanticQuery(route, normalized_body, qo, scope));
  // The orphan partition: the same context under the orphan tenant, without keyed headers.
  ContextScope orphan;
  orphan.tenant = kOrphanTenant;
  orphan.cache_namespace = scope.cache_namespace;
  q.orphan_signature = ContextSignature(route, q.split.context, orphan);
  // The pool: the same signature function over the tenant and model alone (no namespace, headers
  // or context: a tenant's namespaces share what it learns about its model's paraphrases).
  ContextScope pool_scope;
  pool_scope.tenant = scope.tenant;
  q.pool = ContextSignature(
      route, "deja evidence pool\n" + std::string(normalized_body.GetString("model")), pool_scope);
  q.guard = ExtractGuardFeatures(q.split.query);
  const int64_t start = NowMicros();
  DEJA_RETURN_IF_ERROR(embedder_->Embed(q.split.query, &q.vector));
  q.embed_us = NowMicros() - start;
  return q;
}

Status SemanticCache::SearchLocked(const Signature& sig, bool orphan, const PreparedQuery& q,
                                   double threshold, std::vector<Candidate>* out) const {
  auto it = partitions_.find(sig);
  if (it == partitions_.end()) return Status::Ok();
  DEJA_ASSIGN_OR_RETURN(std::vector<VectorIndex::Hit> hits,
                        it->second.index().Search(q.vector, options_.candidates));
  for (const VectorIndex::Hit& h : hits) {
    if (h.score < threshold) break;
    auto e = entries_.find(h.id);
    if (e == entries_.end()) continue;
    Candidate c;
    c.key = e->second.key;
    c.similarity = h.score;
    c.cached_question = e->second.question;
    c.orphan = orphan;
    GuardResult g = CompareGuardFeatures(q.guard, e->second.guard);
    c.guard_ok = g.ok;
    c.guard_reason = std::move(g.reason);
    out->push_back(std::move(c));
  }
  return Status::Ok();
}

StatusOr<std::vector<Candidate>> SemanticCache::Candidates(const PreparedQuery& q,
                                                           double threshold) const {
  if (static_cast<int>(q.vector.size()) != embedder_->dimensions()) {
    return InvalidArgumentError("query vector has the wrong dimension");
  }
  std::vector<Candidate> out;
  std::shared_lock lock(mu_);
  DEJA_RETURN_IF_ERROR(SearchLocked(q.split.context_signature, false, q, threshold, &out));
  if (orphans_ > 0) {
    DEJA_RETURN_IF_ERROR(SearchLocked(q.orphan_signature, true, q, threshold, &out));
  }
  lock.unlock();
  std::stable_sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.similarity > b.similarity;
  });
  if (out.size() > options_.candidates) out.resize(options_.candidates);
  return out;
}

ExploreDecision SemanticCache::DecideExplore(const PreparedQuery& query, const CacheKey& key,
                                             float similarity) {
  DecideOptions o;
  o.max_false_hit_rate = options_.max_false_hit_rate;
  o.bound = options_.bound;
  o.audit_rate = options_.audit_rate;
  o.z = options_.confidence_z;
  ExploreDecision d;
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(IdOf(key));
    static const std::vector<VerificationObservation> kNone;
    const auto& obs =
        it != entries_.end() && it->second.key == key ? it->second.observations : kNone;
    static const SimilarityCalibration kNoEvidence;
    auto pit = pools_.find(query.pool);
    d.decision = Decide(obs, pit != pools_.end() ? pit->second : kNoEvidence, similarity, o);
  }
  if (d.decision.explore_probability <= 0) return d;
  if (d.decision.explore_probability >= 1) {
    d.explore = true;
  } else {
    std::lock_guard lock(rng_mu_);
    d.explore = std::uniform_real_distribution<double>(0, 1)(rng_) < d.decision.explore_probability;
  }
  d.audit = d.explore && d.decision.confident;
  return d;
}

void SemanticCache::RecordVerification(const PreparedQuery& query, const CacheKey& key,
                                       float similarity, bool correct) {
  std::unique_lock lock(mu_);
  pools_[query.pool].Add(similarity, correct);
  auto it = entries_.find(IdOf(key));
  if (it == entries_.end() || !(it->second.key == key)) return;
  auto& obs = it->second.observations;
  obs.push_back(VerificationObservation{similarity, correct});
  if (obs.size() > options_.max_observations) obs.erase(obs.begin());
}

int64_t SemanticCache::pooled_observations() const {
  std::shared_lock lock(mu_);
  int64_t total = 0;
  for (const auto& [sig, pool] : pools_) total += pool.total();
  return total;
}

size_t SemanticCache::evidence_pools() const {
  std::shared_lock lock(mu_);
  return pools_.size();
}

IndexOptions SemanticCache::IndexOptionsFor(std::string_view kind) const {
  IndexOptions io;
  io.kind = std::string(kind);
  io.dimensions = embedder_->dimensions();
  io.max_elements = std::max<size_t>(1024, options_.hnsw_threshold * 2);
  return io;
}

Status SemanticCache::InsertLocked(EntryState entry, std::span<const float> vector) {
  const uint64_t id = IdOf(entry.key);
  RemoveLocked(id);  // a re-admission (or, astronomically rarely, an id collision) replaces
  auto pit = partitions_.find(entry.partition);
  if (pit == partitions_.end()) {
    const IndexOptions io = IndexOptionsFor("flat");
    DEJA_RETURN_IF_ERROR(io.Validate());
    Partition p;
    DEJA_ASSIGN_OR_RETURN(p.flat, FlatIndex::Create(io));
    pit = partitions_.emplace(entry.partition, std::move(p)).first;
  }
  Partition& part = pit->second;
  if (Status added = part.index().Add(id, vector); !added.ok()) {
    // An engine may keep the vector although Add failed (IVF-PQ when its training fails): take it
    // out again, so that the index holds exactly the ids of entries_.
    (void)part.index().Remove(id);
    if (part.index().size() == 0) partitions_.erase(pit);
    return added;
  }
  if (entry.orphan) ++orphans_;
  entries_.emplace(id, std::move(entry));
  const size_t n = part.index().size();
  if (part.flat && n > options_.hnsw_threshold && n >= part.retry_large_at) {
    SwitchToLargeLocked(part);
  }
  return Status::Ok();
}

void SemanticCache::SwitchToLargeLocked(Partition& part) {
  // Past the flat scan's sweet spot: rebuild this partition as the large index, from the flat
  // index's own ids and floats (O(partition), no copy).
  const size_t n = part.flat->size();
  StatusOr<std::unique_ptr<VectorIndex>> large = MakeIndex(IndexOptionsFor(options_.large_index));
  Status built = large.status();
  if (built.ok()) {
    part.flat->VisitContents([&](std::span<const uint64_t> ids, std::span<const float> vecs) {
      built = (*large)->AddBatch(ids, vecs, 1);
    });
  }
  if (!built.ok()) {
    // Keep the flat index (still exact, only slower); try again when the partition has doubled
    // rather than on every insertion.
    part.retry_large_at = 2 * n;
    ++large_index_failures_;
    last_large_index_error_ = std::move(built);
    return;
  }
  part.large = std::move(*large);
  part.flat.reset();
}

bool SemanticCache::RemoveLocked(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  auto pit = partitions_.find(it->second.partition);
  if (pit != partitions_.end()) {
    (void)pit->second.index().Remove(id);
    if (pit->second.index().size() == 0) partitions_.erase(pit);
  }
  if (it->second.orphan) --orphans_;
  entries_.erase(it);
  return true;
}

AdmissionDecision SemanticCache::Admit(const PreparedQuery& q, const CacheKey& key,
                                       std::string_view answer_text, double cost,
                                       uint64_t frequency, const CacheKey* answers_differently) {
  AdmissionSignals s;
  s.frequency = frequency;
  s.cost = cost;
  QualityVerdict quality = AssessForSemanticIndex(q.split.query, answer_text);
  s.quality_ok = quality.admit;
  if (quality.admit) {
    StatusOr<std::vector<Candidate>> found = Candidates(q, -2);
    if (!found.ok()) {
      // Without the near-duplicate check the decision cannot be made, and an index that fails to
      // search is not one to insert into: not admitted (the exact cache still has the answer).
      AdmissionDecision refused;
      refused.reason = "index: search failed: " + found.status().message();
      return refused;
    }
    for (const Candidate& c : *found) {
      // Only an entry that would answer this question (guards agree) makes it a duplicate.
      if (c.key == key || !c.guard_ok || c.orphan) continue;
      if (answers_differently != nullptr && c.key == *answers_differently) continue;
      s.max_similarity = std::max<double>(s.max_similarity, c.similarity);
    }
  }
  AdmissionDecision d = AdmissionScore(s, options_.admission);
  if (!quality.admit) d.reason = "quality: " + quality.detail;
  if (!d.admit) return d;
  EntryState e;
  e.key = key;
  e.partition = q.split.context_signature;
  e.pool = q.pool;
  e.question = q.split.query;
  e.guard = q.guard;
  std::unique_lock lock(mu_);
  if (Status st = InsertLocked(std::move(e), q.vector); !st.ok()) {
    d.admit = false;
    d.reason = "index: " + st.message();
  }
  return d;
}

void SemanticCache::Adopt(const CacheKey& key, const PreparedQuery& q) {
  std::unique_lock lock(mu_);
  auto it = entries_.find(IdOf(key));
  if (it == entries_.end() || !(it->second.key == key) || !it->second.orphan) return;
  auto pit = partitions_.find(it->second.partition);
  std::vector<float> vector;
  if (pit == partitions_.end() || !pit->second.index().GetVector(it->first, &vector).ok()) return;
  EntryState e = std::move(it->second);  // InsertLocked replaces the moved-from original
  e.orphan = false;
  e.partition = q.split.context_signature;
  e.pool = q.pool;
  (void)InsertLocked(std::move(e), vector);
}

bool SemanticCache::Remove(const CacheKey& key) {
  std::unique_lock lock(mu_);
  auto it = entries_.find(IdOf(key));
  if (it == entries_.end() || !(it->second.key == key)) return false;
  return RemoveLocked(it->first);
}

bool SemanticCache::Contains(const CacheKey& key) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(IdOf(key));
  return it != entries_.end() && it->second.key == key;
}

size_t SemanticCache::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
}

size_t SemanticCache::partitions() const {
  std::shared_lock lock(mu_);
  return partitions_.size();
}

size_t SemanticCache::orphans() const {
  std::shared_lock lock(mu_);
  return orphans_;
}

size_t SemanticCache::large_index_failures() const {
  std::shared_lock lock(mu_);
  return large_index_failures_;
}

Status SemanticCache::last_large_index_error() const {
  std::shared_lock lock(mu_);
  return last_large_index_error_;
}

std::vector<PersistedEntry> SemanticCache::Snapshot() const {
  std::shared_lock lock(mu_);
  std::vector<PersistedEntry> out;
  out.reserve(entries_.size());
  for (const auto& [id, e] : entries_) {
    PersistedEntry p;
    auto pit = partitions_.find(e.partition);
    // Every entry's vector is in its partition's index (InsertLocked keeps them in step), and the
    // cache's engines keep floats; an entry whose vector could not be read would not restore.
    if (pit == partitions_.end() || !pit->second.index().GetVector(id, &p.vector).ok()) continue;
    p.key = e.key;
    p.partition = e.partition;
    p.pool = e.pool;
    p.orphan = e.orphan;
    p.question = e.question;
    p.observations = e.observations;
    out.push_back(std::move(p));
  }
  return out;
}

Status SemanticCache::Restore(std::vector<PersistedEntry> entries) {
  const size_t dims = static_cast<size_t>(embedder_->dimensions());
  size_t skipped = 0;
  std::unique_lock lock(mu_);
  for (PersistedEntry& p : entries) {
    if (p.vector.size() != dims) {
      ++skipped;
      continue;
    }
    // Admitted while a deferred load ran: the live entry is the newer one.
    if (auto live = entries_.find(IdOf(p.key)); live != entries_.end() && live->second.key == p.key)
      continue;
    EntryState e;
    e.key = p.key;
    e.partition = p.partition;
    e.pool = p.pool;
    e.orphan = p.orphan;
    e.question = std::move(p.question);
    e.guard = ExtractGuardFeatures(e.question);
    e.observations = std::move(p.observations);
    if (e.pool != Signature{}) {
      for (const VerificationObservation& o : e.observations) {
        pools_[e.pool].Add(o.similarity, o.correct);
      }
    }
    if (!InsertLocked(std::move(e), p.vector).ok()) ++skipped;
  }
  if (skipped > 0) {
    return InvalidArgumentError(std::to_string(skipped) + " entries could not be restored");
  }
  return Status::Ok();
}

}  // namespace deja::semantic
