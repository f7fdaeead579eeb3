#include <string>

#include "core/route.h"
#include "deja/gateway_options.h"
#include "server/answer_compare.h"
#include "server/cassette_format.h"

namespace deja {
namespace {

Status CheckUrl(const std::string& field, const std::string& url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return InvalidArgumentError(field + " must start with http:// or https:// (got \"" + url +
                                "\")");
  }
  return Status::Ok();
}

}  // namespace

namespace {

Status ValidateSemantic(const SemanticOptions& s) {
  auto in_unit = [](double v) { return v >= 0 && v <= 1; };
  if (s.embedder != "lexical" && s.embedder != "static" && s.embedder != "words" &&
      s.embedder != "bert" && s.embedder != "remote") {
    return InvalidArgumentError("semantic.embedder must be lexical, static, words, bert or remote");
  }
  if (s.embedder != "lexical" && s.embedder != "remote" && s.enabled && s.model_dir.empty()) {
    return InvalidArgumentError("semantic.embedder " + s.embedder + " needs semantic.model_dir");
  }
  if (!in_unit(s.threshold) || !in_unit(s.answer_similarity) ||
      !in_unit(s.near_duplicate_similarity) || !in_unit(s.min_admission_score)) {
    return InvalidArgumentError(
        "semantic.threshold, answer_similarity, near_duplicate_similarity and "
        "min_admission_score must be between 0 and 1");
  }
  if (!(s.max_false_hit_rate > 0 && s.max_false_hit_rate <= 1)) {
    return InvalidArgumentError("semantic.max_false_hit_rate must be in (0, 1]");
  }
  if (s.false_hit_bound != "served" && s.false_hit_bound != "lookups") {
    return InvalidArgumentError("semantic.false_hit_bound must be served or lookups");
  }
  if (!in_unit(s.audit_rate)) {
    return InvalidArgumentError("semantic.audit_rate must be between 0 and 1");
  }
  if (!server::ParseAnswerMatch(s.verify).ok()) {
    return InvalidArgumentError("semantic.verify must be structured, exact or embedding");
  }
  if (s.query_turns < 1 || s.query_turns > 64) {
    return InvalidArgumentError("semantic.query_turns must be 1..64");
  }
  if (s.hnsw_threshold < 1 || s.save_interval_s < 0) {
    return InvalidArgumentError("semantic.hnsw_threshold must be >= 1, save_interval_s >= 0");
  }
  if (s.large_index != "hnsw" && s.large_index != "ivfpq") {
    return InvalidArgumentError("semantic.large_index must be hnsw or ivfpq");
  }
  if (s.embedder == "remote" && (s.remote_url.empty() || s.remote_model.empty())) {
    return InvalidArgumentError(
        "semantic.embedder = \"remote\" needs semantic.remote_url and semantic.remote_model");
  }
  if (s.remote_timeout_ms < 1 || s.remote_timeout_ms > 600'000) {
    return InvalidArgumentError("semantic.remote_timeout_ms must be 1..600000");
  }
  return Status::Ok();
}

}  // namespace

Status GatewayOptions::Validate() const {
  if (server.listen.find(':') == std::string::npos) {
    return InvalidArgumentError("server.listen must be HOST:PORT (got \"" + server.listen + "\")");
  }
  if (server.io_threads < 0) return InvalidArgumentError("server.io_threads must be >= 0");
  if (server.upstream_threads < 1)
    return InvalidArgumentError("server.upstream_threads must be >= 1");
  if (server.max_body_bytes < 1024) {
    return InvalidArgumentError("server.max_body_bytes must be at least 1024");
  }
  if (server.max_header_bytes < 1024) {
    return InvalidArgumentError("server.max_header_bytes must be at least 1024");
  }
  if (server.max_connections < 1)
    return InvalidArgumentError("server.max_connections must be >= 1");
  if (server.max_json_depth < 1 || server.max_json_depth > 10000) {
    return InvalidArgumentError("server.max_json_depth must be between 1 and 10000");
  }
  if (server.mode != "live" && server.mode != "record" && server.mode != "replay" &&
      server.mode != "record-missing" && server.mode != "shadow") {
    return InvalidArgumentError(
        "server.mode must be \"live\", \"record\", \"replay\", \"record-missing\" or "
        "\"shadow\" (got \"" +
        server.mode + "\")");
  }
  if (server.mode == "shadow" && !cassette.path.empty()) {
    return InvalidArgumentError(
        "server.mode \"shadow\" measures a live cache on real traffic: it takes no cassette");
  }
  if (server.shadow_report_interval_s < 1) {
    return InvalidArgumentError("server.shadow_report_interval_s must be >= 1");
  }
  if (server.idle_timeout_ms < 1) return InvalidArgumentError("server.idle_timeout_ms must be > 0");
  DEJA_RETURN_IF_ERROR(CheckUrl("upstream.openai", upstreams.openai));
  DEJA_RETURN_IF_ERROR(CheckUrl("upstream.anthropic", upstreams.anthropic));
  if (upstreams.connect_timeout_ms < 1 || upstreams.read_timeout_ms < 1) {
    return InvalidArgumentError("upstream timeouts must be > 0");
  }
  for (const std::string& r : cache.routes) {
    if (RouteFromPath(r) == Route::kOther) {
      return InvalidArgumentError("cache.routes: \"" + r + "\" is not a cacheable route");
    }
  }
  if (cache.default_ttl_s < 0) return InvalidArgumentError("cache.default_ttl_s must be >= 0");
  if (cache.tenant_isolation != "api-key" && cache.tenant_isolation != "shared") {
    return InvalidArgumentError("cache.tenant_isolation must be \"api-key\" or \"shared\"");
  }
  if (cache.single_flight_wait_ms < 0) {
    return InvalidArgumentError("cache.single_flight_wait_ms must be >= 0");
  }
  if (store.data_dir.empty()) return InvalidArgumentError("store.data_dir must not be empty");
  if (store.map_size_bytes < (int64_t{1} << 20)) {
    return InvalidArgumentError("store.map_size_mb must be at least 1");
  }
  if (store.max_bytes < 0) return InvalidArgumentError("store.max_bytes must be >= 0");
  if (store.eviction != "lru" && store.eviction != "lfu" && store.eviction != "cost") {
    return InvalidArgumentError("store.eviction must be \"lru\", \"lfu\" or \"cost\"");
  }
  if (store.sweep_interval_s < 0)
    return InvalidArgumentError("store.sweep_interval_s must be >= 0");
  if (cassette.path.empty() && (!cassette.used_log.empty() || !cassette.redact_pointers.empty())) {
    return InvalidArgumentError(
        "cassette.used_log and cassette.redact_pointers need a cassette (cassette.path)");
  }
  if (StatusOr<std::vector<server::RedactPointer>> redact =
          server::ParseRedactPointers(cassette.redact_pointers);
      !redact.ok()) {
    return redact.status();
  }
  if (Status st = ValidateSemantic(semantic); !st.ok()) return st;
  for (const auto& [model, price] : prices) {
    if (price.input_per_mtok < 0 || price.output_per_mtok < 0) {
      return InvalidArgumentError("prices." + model + ": prices must be >= 0");
    }
  }
  return Status::Ok();
}

}  // namespace deja
