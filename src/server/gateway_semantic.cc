// The semantic tier in the gateway (gateway.h): lookup, vCache verification, admission (on worker
// threads only), and following the store's removals.
#include <cmath>
#include <cstdio>

#include "core/json.h"
#include "semantic/answer_template.h"
#include "semantic/semantic_cache.h"
#include "server/answer_compare.h"
#include "server/gateway.h"
#include "server/gateway_call.h"
#include "server/stream_convert.h"

namespace deja::server {
namespace {

std::string ThreeDecimals(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// The cached answer with the new question's slot values filled in (answer_template.h), as a body;
// nullopt when the questions differ in more than slots or the answer cannot take the values.
std::optional<CachedResponse> FillTemplate(Route route, const CachedResponse& cached,
                                           std::string_view cached_question,
                                           std::string_view new_question, bool fill_values) {
  std::string body = cached.body;
  if (cached.streamed) {
    StatusOr<std::string> assembled = AssembleStream(route, cached.events);
    if (!assembled.ok()) return std::nullopt;
    body = std::move(*assembled);
  }
  StatusOr<json::Value> doc = json::Parse(body);
  if (!doc.ok() || !doc->is_object()) return std::nullopt;
  const semantic::AnswerTemplate tmpl =
      semantic::MakeTemplate(cached_question, semantic::AnswerTextOfJson(*doc));
  semantic::TemplateOptions options;
  options.fill_values = fill_values;
  if (!semantic::FillTemplateJson(tmpl, cached_question, new_question, &*doc, options)) {
    return std::nullopt;
  }
  CachedResponse out;
  out.status = cached.status;
  out.content_type = "application/json";
  out.body = json::Write(*doc);
  return out;
}

}  // namespace

SemanticGauges Gateway::semantic_gauges() const {
  SemanticGauges g;
  if (semantic_ == nullptr) return g;
  g.entries = static_cast<int64_t>(semantic_->size());
  g.partitions = static_cast<int64_t>(semantic_->partitions());
  g.orphans = static_cast<int64_t>(semantic_->orphans());
  g.large_index_failures = static_cast<int64_t>(semantic_->large_index_failures());
  return g;
}

bool Gateway::TrySemantic(Call& c) {
  const std::string tenant = c.scope.Hex();
  semantic::ContextScope scope;
  scope.tenant = tenant;
  scope.cache_namespace = c.controls.name_space;
  scope.keyed_headers = c.normalized.keyed_headers;
  StatusOr<semantic::PreparedQuery> prepared =
      semantic_->Prepare(c.route, c.normalized.body, scope);
  if (!prepared.ok()) {
    // Not eligible (an image, an assistant prefill, embeddings...) is no failure.
    if (prepared.status().code() != StatusCode::kFailedPrecondition) {
      metrics_.CountError(ErrorKind::kEmbedder);
    }
    return false;
  }
  semantic_metrics_.ObserveEmbed(prepared->embed_us);
  semantic_metrics_.Count(SemanticMetrics::kLookups);
  c.semantic_query = std::move(*prepared);
  const semantic::PreparedQuery& q = *c.semantic_query;
  const double threshold =
      c.controls.similarity >= 0 ? c.controls.similarity : options_.semantic.threshold;
  StatusOr<std::vector<semantic::Candidate>> candidates = semantic_->Candidates(q, threshold);
  if (!candidates.ok()) {
    metrics_.CountError(ErrorKind::kSemanticIndex);
    return false;
  }
  for (semantic::Candidate& cand : *candidates) {
    if (cand.key == c.key) continue;  // our own entry, too old for max-age: a plain miss
    StatusOr<Entry> entry = deps_.store->Get(cand.key);
    if (!entry.ok()) {
      if (entry.status().code() == StatusCode::kNotFound) {
        // Deleted, expired or evicted: the index follows the store.
        if (semantic_->Remove(cand.key)) semantic_metrics_.Count(SemanticMetrics::kStaleRemoved);
      } else {
        metrics_.CountError(ErrorKind::kStore);
      }
      continue;
    }
    if (cand.orphan) {
      // Rebuilt from the store, tenant unknown: it is ours only if our scope and headers produce
      // its key (keys are MACs under the deployment secret).
      NormalizedRequest probe;
      probe.canonical = entry->canonical_request;
      probe.keyed_headers = c.normalized.keyed_headers;
      if (!(ComputeKey(c.scope, c.controls.name_space, c.route, probe) == cand.key)) continue;
      semantic_->Adopt(cand.key, q);
      semantic_metrics_.Count(SemanticMetrics::kAdopted);
    }
    if (!FreshEnough(c, entry->meta) || entry->response.status < 200 ||
        entry->response.status >= 300) {
      continue;
    }
    CachedResponse answer = std::move(entry->response);
    bool filled = false;
    if (!cand.guard_ok) {
      // A guard saw a difference (a number, an id...): only a template fill can still answer.
      std::optional<CachedResponse> f =
          options_.semantic.templates
              ? FillTemplate(c.route, answer, cand.cached_question, q.split.query,
                             options_.semantic.template_fill_values)
              : std::nullopt;
      if (!f) {
        semantic_metrics_.Count(SemanticMetrics::kGuardRejections);
        continue;
      }
      answer = std::move(*f);
      filled = true;
    }
    if (mode_ == GatewayMode::kShadow) {
      c.shadow_tier = ShadowTier::kSemantic;
      c.shadow_stored = std::move(answer);
      c.cache_header = "shadow-semantic-hit";
      return false;
    }
    if (const semantic::ExploreDecision d = semantic_->DecideExplore(q, cand.key, cand.similarity);
        d.explore) {
      semantic_metrics_.Count(SemanticMetrics::kExplorations);
      c.semantic_verify =
          Call::SemanticVerify{cand.key, cand.similarity, std::move(answer), d.audit, {}};
      c.cache_header = "semantic-verify";
      return false;
    }
    Headers extra = {{"X-Deja-Similarity", ThreeDecimals(cand.similarity)},
                     {"X-Deja-Matched-Key", cand.key.Hex()}};
    if (filled) extra.emplace_back("X-Deja-Template", "filled");
    if (ServeStored(c, std::move(answer), &entry->meta, "semantic-hit", std::move(extra))) {
      semantic_metrics_.Count(SemanticMetrics::kHits);
      if (filled) semantic_metrics_.Count(SemanticMetrics::kTemplateFills);
      return true;
    }
  }
  return false;
}

void Gateway::VerifySemantic(Call& c, const CachedResponse* fresh) {
  const Call::SemanticVerify& v = *c.semantic_verify;
  std::optional<bool> correct;
  if (fresh != nullptr) {
    const TextSimilarity similarity = [this](std::string_view a, std::string_view b) {
      StatusOr<double> s = semantic::TextSimilarity(semantic_->embedder(), a, b);
      if (!s.ok()) metrics_.CountError(ErrorKind::kEmbedder);
      return s;
    };
    StatusOr<AnswerComparison> same = SameAnswer(c.route, verify_match_, v.expected, *fresh,
                                                 similarity, options_.semantic.answer_similarity);
    if (same.ok()) correct = same->same;
  }
  if (!correct) {
    semantic_metrics_.Count(SemanticMetrics::kUncomparable);
    return;
  }
  semantic_metrics_.Count(*correct ? SemanticMetrics::kCorrect : SemanticMetrics::kWrong);
  if (v.audit) {
    semantic_metrics_.Count(*correct ? SemanticMetrics::kAuditCorrect
                                     : SemanticMetrics::kAuditWrong);
  }
  semantic_->RecordVerification(*c.semantic_query, v.key, v.similarity, *correct);
  // The match was wrong for this question: its own (stored) answer is what rewordings of it need.
  if (!*correct && v.stored_cost && fresh != nullptr) {
    AdmitAnswer(c, *fresh, *v.stored_cost, &v.key);
  }
}

void Gateway::AdmitSemantic(Call& c, const Entry& stored) {
  const double cost = static_cast<double>(stored.meta.input_tokens + stored.meta.output_tokens);
  if (c.semantic_verify) {
    // Its match may already answer this question: the verification decides (VerifySemantic).
    c.semantic_verify->stored_cost = cost;
    return;
  }
  AdmitAnswer(c, stored.response, cost);
}

void Gateway::AdmitAnswer(Call& c, const CachedResponse& response, double cost,
                          const CacheKey* answers_differently) {
  StatusOr<std::string> text = AnswerText(c.route, response);
  if (!text.ok()) return;
  semantic::AdmissionDecision d =
      semantic_->Admit(*c.semantic_query, c.key, *text, cost, 1, answers_differently);
  semantic_metrics_.Count(d.admit ? SemanticMetrics::kAdmitted : SemanticMetrics::kNotAdmitted);
}

// Runs on whichever thread removed the entries (an I/O thread for an admin delete or purge, a
// worker for eviction inside a store write, serve's main thread for the expiry sweep): removing
// from the index takes microseconds per entry.
void Gateway::OnRemoved(std::span<const CacheKey> keys, RemovalCause cause) {
  if (semantic_ == nullptr) return;
  int64_t removed = 0;
  for (const CacheKey& key : keys) removed += semantic_->Remove(key) ? 1 : 0;
  if (removed > 0) semantic_metrics_.CountRemoved(cause, removed);
}

}  // namespace deja::server
