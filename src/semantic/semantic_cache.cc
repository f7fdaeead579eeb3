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
  ContextScope orphan;
  orphan.tenant = kOrphanTenant;
  orphan.cache_namespace = scope.cache_namespace;
  DEJA_ASSIGN_OR_RETURN(SemanticQuery o, SplitSemanticQuery(route, normalized_body, qo, orphan));
  q.orphan_signature = o.context_signature;
  q.guard = ExtractGuardFeatures(q.split.query);
  const int64_t start = NowMicros();
  DEJA_RETURN_IF_ERROR(embedder_->Embed(q.split.query, &q.vector));
  q.embed_us = NowMicros() - start;
  return q;
}

void SemanticCache::SearchLocked(const Signature& sig, bool orphan, const PreparedQuery& q,
                                 double threshold, std::vector<Candidate>* out) const {
  auto it = partitions_.find(sig);
  if (it == partitions_.end()) return;
  StatusOr<std::vector<VectorIndex::Hit>> hits =
      it->second.index->Search(q.vector, options_.candidates);
  if (!hits.ok()) return;
  for (const VectorIndex::Hit& h : *hits) {
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
}

StatusOr<std::vector<Candidate>> SemanticCache::Candidates(const PreparedQuery& q,
                                                           double threshold) const {
  if (static_cast<int>(q.vector.size()) != embedder_->dimensions()) {
    return InvalidArgumentError("query vector has the wrong dimension");
  }
  std::vector<Candidate> out;
  std::shared_lock lock(mu_);
  SearchLocked(q.split.context_signature, false, q, threshold, &out);
  if (orphans_ > 0) SearchLocked(q.orphan_signature, true, q, threshold, &out);
  lock.unlock();
  std::stable_sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.similarity > b.similarity;
  });
  if (out.size() > options_.candidates) out.resize(options_.candidates);
  return out;
}

ExploreDecision SemanticCache::DecideExplore(const CacheKey& key, float similarity) {
  ExploreDecision d;
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(IdOf(key));
    static const std::vector<VerificationObservation> kNone;
    const auto& obs =
        it != entries_.end() && it->second.key == key ? it->second.observations : kNone;
    d.estimate =
        EstimateFalseHit(obs, similarity, options_.max_false_hit_rate, options_.confidence_z);
  }
  if (d.estimate.explore_probability <= 0) return d;
  std::lock_guard lock(rng_mu_);
  d.explore = std::uniform_real_distribution<double>(0, 1)(rng_) < d.estimate.explore_probability;
  return d;
}

void SemanticCache::RecordVerification(const CacheKey& key, float similarity, bool correct) {
  std::unique_lock lock(mu_);
  auto it = entries_.find(IdOf(key));
  if (it == entries_.end() || !(it->second.key == key)) return;
  auto& obs = it->second.observations;
  obs.push_back(VerificationObservation{similarity, correct});
  if (obs.size() > options_.max_observations) obs.erase(obs.begin());
}

StatusOr<SemanticCache::Partition> SemanticCache::MakePartition(bool hnsw) const {
  IndexOptions io;
  io.kind = hnsw ? options_.large_index : "flat";
  io.dimensions = embedder_->dimensions();
  io.max_elements = std::max<size_t>(1024, options_.hnsw_threshold * 2);
  Partition p;
  DEJA_ASSIGN_OR_RETURN(p.index, MakeIndex(io));
  p.hnsw = hnsw;
  return p;
}

Status SemanticCache::InsertLocked(EntryState entry) {
  const uint64_t id = IdOf(entry.key);
  RemoveLocked(id);  // a re-admission (or, astronomically rarely, an id collision) replaces
  auto pit = partitions_.find(entry.partition);
  if (pit == partitions_.end()) {
    DEJA_ASSIGN_OR_RETURN(Partition p, MakePartition(false));
    pit = partitions_.emplace(entry.partition, std::move(p)).first;
  }
  Partition& part = pit->second;
  DEJA_RETURN_IF_ERROR(part.index->Add(id, entry.vector));
  if (entry.orphan) ++orphans_;
  entries_.emplace(id, std::move(entry));
  if (!part.hnsw && part.index->size() > options_.hnsw_threshold) {
    // Past the flat scan's sweet spot: rebuild this partition as an HNSW graph.
    StatusOr<Partition> graph = MakePartition(true);
    if (!graph.ok()) return Status::Ok();  // keep the flat index; it is still correct
    std::vector<uint64_t> ids;
    std::vector<float> vecs;
    for (const auto& [eid, e] : entries_) {
      if (e.partition != pit->first) continue;
      ids.push_back(eid);
      vecs.insert(vecs.end(), e.vector.begin(), e.vector.end());
    }
    if (graph->index->AddBatch(ids, vecs, 1).ok()) part = std::move(*graph);
  }
  return Status::Ok();
}

bool SemanticCache::RemoveLocked(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  auto pit = partitions_.find(it->second.partition);
  if (pit != partitions_.end()) {
    (void)pit->second.index->Remove(id);
    if (pit->second.index->size() == 0) partitions_.erase(pit);
  }
  if (it->second.orphan) --orphans_;
  entries_.erase(it);
  return true;
}

AdmissionDecision SemanticCache::Admit(const PreparedQuery& q, const CacheKey& key,
                                       std::string_view answer_text, double cost,
                                       uint64_t frequency) {
  AdmissionSignals s;
  s.frequency = frequency;
  s.cost = cost;
  QualityVerdict quality = AssessForSemanticIndex(q.split.query, answer_text);
  s.quality_ok = quality.admit;
  if (quality.admit) {
    std::vector<Candidate> near;
    StatusOr<std::vector<Candidate>> found = Candidates(q, -2);
    if (found.ok()) {
      for (const Candidate& c : *found) {
        // Only an entry that would answer this question (guards agree) makes it a duplicate.
        if (c.key == key || !c.guard_ok || c.orphan) continue;
        s.max_similarity = std::max<double>(s.max_similarity, c.similarity);
      }
    }
  }
  AdmissionDecision d = AdmissionScore(s, options_.admission);
  if (!quality.admit) d.reason = "quality: " + quality.detail;
  if (!d.admit) return d;
  EntryState e;
  e.key = key;
  e.partition = q.split.context_signature;
  e.question = q.split.query;
  e.guard = q.guard;
  e.vector = q.vector;
  std::unique_lock lock(mu_);
  if (Status st = InsertLocked(std::move(e)); !st.ok()) {
    d.admit = false;
    d.reason = "index: " + st.message();
  }
  return d;
}

void SemanticCache::Adopt(const CacheKey& key, const PreparedQuery& q) {
  std::unique_lock lock(mu_);
  auto it = entries_.find(IdOf(key));
  if (it == entries_.end() || !(it->second.key == key) || !it->second.orphan) return;
  EntryState e = std::move(it->second);  // InsertLocked replaces the moved-from original
  e.orphan = false;
  e.partition = q.split.context_signature;
  (void)InsertLocked(std::move(e));
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

std::vector<PersistedEntry> SemanticCache::Snapshot() const {
  std::shared_lock lock(mu_);
  std::vector<PersistedEntry> out;
  out.reserve(entries_.size());
  for (const auto& [id, e] : entries_) {
    PersistedEntry p;
    p.key = e.key;
    p.partition = e.partition;
    p.orphan = e.orphan;
    p.question = e.question;
    p.vector = e.vector;
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
    EntryState e;
    e.key = p.key;
    e.partition = p.partition;
    e.orphan = p.orphan;
    e.question = std::move(p.question);
    e.guard = ExtractGuardFeatures(e.question);
    e.vector = std::move(p.vector);
    e.observations = std::move(p.observations);
    if (!InsertLocked(std::move(e)).ok()) ++skipped;
  }
  if (skipped > 0) {
    return InvalidArgumentError(std::to_string(skipped) + " entries could not be restored");
  }
  return Status::Ok();
}

}  // namespace deja::semantic
