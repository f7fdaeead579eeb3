#include "server/semantic_metrics.h"

namespace deja::server {
namespace {

constexpr RemovalCause kRemovalCauses[] = {RemovalCause::kDeleted, RemovalCause::kPurged,
                                           RemovalCause::kExpired, RemovalCause::kEvicted};

void Line(std::string* out, std::string_view name, std::string_view type, std::string_view help,
          std::string_view labels, int64_t v) {
  if (!help.empty()) {
    *out += "# HELP ";
    *out += name;
    *out += ' ';
    *out += help;
    *out += "\n# TYPE ";
    *out += name;
    *out += ' ';
    *out += type;
    *out += '\n';
  }
  *out += name;
  *out += labels;
  *out += ' ';
  *out += std::to_string(v);
  *out += '\n';
}

}  // namespace

double SemanticMetrics::ObservedFalseHitRate() const {
  const int64_t correct = Get(kCorrect), wrong = Get(kWrong);
  return correct + wrong == 0 ? 0
                              : static_cast<double>(wrong) / static_cast<double>(correct + wrong);
}

double SemanticMetrics::AuditedFalseHitRate() const {
  const int64_t correct = Get(kAuditCorrect), wrong = Get(kAuditWrong);
  return correct + wrong == 0 ? 0
                              : static_cast<double>(wrong) / static_cast<double>(correct + wrong);
}

void SemanticMetrics::Render(const SemanticGauges& g, std::string* out) const {
  Line(out, "deja_semantic_lookups_total", "counter", "Requests looked up in the semantic tier.",
       "", Get(kLookups));
  Line(out, "deja_semantic_hits_total", "counter", "Requests answered from a semantic match.", "",
       Get(kHits));
  Line(out, "deja_semantic_template_fills_total", "counter",
       "Semantic hits answered with slot values filled in.", "", Get(kTemplateFills));
  Line(out, "deja_semantic_guard_rejections_total", "counter",
       "Near matches turned into misses by a guard.", "", Get(kGuardRejections));
  Line(out, "deja_semantic_explorations_total", "counter",
       "Would-be semantic hits forwarded upstream to verify (vCache).", "", Get(kExplorations));
  Line(out, "deja_semantic_verifications_total", "counter",
       "Verifications of would-be semantic hits, by result.", "{result=\"correct\"}",
       Get(kCorrect));
  Line(out, "deja_semantic_verifications_total", "", "", "{result=\"wrong\"}", Get(kWrong));
  Line(out, "deja_semantic_verifications_total", "", "", "{result=\"uncomparable\"}",
       Get(kUncomparable));
  Line(out, "deja_semantic_audits_total", "counter",
       "Confident semantic hits verified anyway (a random sample), by result.",
       "{result=\"correct\"}", Get(kAuditCorrect));
  Line(out, "deja_semantic_audits_total", "", "", "{result=\"wrong\"}", Get(kAuditWrong));
  Line(out, "deja_semantic_admissions_total", "counter",
       "Answers offered to the semantic index, by decision.", "{decision=\"admitted\"}",
       Get(kAdmitted));
  Line(out, "deja_semantic_admissions_total", "", "", "{decision=\"refused\"}", Get(kNotAdmitted));
  Line(out, "deja_semantic_stale_removed_total", "counter",
       "Index entries dropped because the store no longer had them.", "", Get(kStaleRemoved));
  for (RemovalCause cause : kRemovalCauses) {
    Line(out, "deja_semantic_index_removals_total", cause == kRemovalCauses[0] ? "counter" : "",
         cause == kRemovalCauses[0]
             ? "Index entries dropped at once when the store removed them, by cause."
             : "",
         "{cause=\"" + std::string(RemovalCauseName(cause)) + "\"}", Removed(cause));
  }
  *out += "# HELP deja_semantic_observed_false_hit_rate Wrong / all verifications.\n";
  *out += "# TYPE deja_semantic_observed_false_hit_rate gauge\n";
  *out += "deja_semantic_observed_false_hit_rate " + std::to_string(ObservedFalseHitRate()) + "\n";
  *out += "# HELP deja_semantic_audited_false_hit_rate Wrong / all audits of confident hits.\n";
  *out += "# TYPE deja_semantic_audited_false_hit_rate gauge\n";
  *out += "deja_semantic_audited_false_hit_rate " + std::to_string(AuditedFalseHitRate()) + "\n";
  Line(out, "deja_semantic_index_entries", "gauge", "Entries in the semantic index.", "",
       g.entries);
  Line(out, "deja_semantic_index_partitions", "gauge", "Context partitions of the index.", "",
       g.partitions);
  Line(out, "deja_semantic_index_orphans", "gauge",
       "Rebuilt entries whose tenant is not yet proven.", "", g.orphans);
  Line(out, "deja_semantic_large_index_failures_total", "counter",
       "Partitions that failed to switch from flat search to the large index.", "",
       g.large_index_failures);
  embed_latency_.Render("deja_semantic_embed_latency_seconds", "", out);
}

json::Value SemanticMetrics::ToJson(const SemanticGauges& g) const {
  json::Value v = json::Value::MakeObject();
  v.Set("lookups", json::Value(Get(kLookups)));
  v.Set("hits", json::Value(Get(kHits)));
  v.Set("template_fills", json::Value(Get(kTemplateFills)));
  v.Set("guard_rejections", json::Value(Get(kGuardRejections)));
  v.Set("explorations", json::Value(Get(kExplorations)));
  json::Value verifications = json::Value::MakeObject();
  verifications.Set("correct", json::Value(Get(kCorrect)));
  verifications.Set("wrong", json::Value(Get(kWrong)));
  verifications.Set("uncomparable", json::Value(Get(kUncomparable)));
  v.Set("verifications", std::move(verifications));
  v.Set("observed_false_hit_rate", json::Value(ObservedFalseHitRate()));
  json::Value audits = json::Value::MakeObject();
  audits.Set("correct", json::Value(Get(kAuditCorrect)));
  audits.Set("wrong", json::Value(Get(kAuditWrong)));
  v.Set("audits", std::move(audits));
  v.Set("audited_false_hit_rate", json::Value(AuditedFalseHitRate()));
  v.Set("admitted", json::Value(Get(kAdmitted)));
  v.Set("not_admitted", json::Value(Get(kNotAdmitted)));
  v.Set("stale_removed", json::Value(Get(kStaleRemoved)));
  json::Value removed = json::Value::MakeObject();
  for (RemovalCause cause : kRemovalCauses) {
    removed.Set(std::string(RemovalCauseName(cause)), json::Value(Removed(cause)));
  }
  v.Set("removed", std::move(removed));
  v.Set("adopted", json::Value(Get(kAdopted)));
  v.Set("index_entries", json::Value(g.entries));
  v.Set("index_partitions", json::Value(g.partitions));
  v.Set("index_orphans", json::Value(g.orphans));
  v.Set("large_index_failures", json::Value(g.large_index_failures));
  return v;
}

}  // namespace deja::server
