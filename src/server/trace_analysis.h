// `deja analyze`: shadow mode's report computed offline from a trace of request/response pairs.
//
// A trace is JSON Lines, one exchange per line (README.md, "Shadow mode"):
//
//   {"request": {...}, "response": {...},          the provider request and its (non-stream) answer
//    "route": "/v1/chat/completions",             optional: inferred from the response's "object"
//                                                 or "type" (chat.completion, text_completion,
//                                                 response, message, list of embeddings)
//    "status": 200,                               optional (default 200); non-2xx is never cached
//    "tenant": "team-a",                          optional: scope (API key or team); default one
//                                                 scope for the whole trace
//    "namespace": "",                             optional: X-Deja-Namespace
//    "latency_ms": 812,                           optional: upstream latency saved by a good hit
//    "headers": {"anthropic-version": "..."}}     optional: request headers that enter the key
//
// Lines are replayed in order through the gateway's own normalization, keys and cache policy (from
// the config): the first answer for a key is "stored", a later request with that key is a would-be
// exact hit, and its answer is compared with the stored one exactly as shadow mode does
// (StructuredFingerprint). Entries never expire or get evicted here, so hit counts are an upper
// bound for a cache with a TTL or a size limit.
//
// Thread safety: a TraceAnalyzer is used by one thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/key.h"
#include "core/normalize.h"
#include "deja/gateway_options.h"
#include "deja/status.h"
#include "server/shadow_report.h"

namespace deja::server {

class TraceAnalyzer {
 public:
  static StatusOr<std::unique_ptr<TraceAnalyzer>> Create(const GatewayOptions& options);

  // Adds one trace line. InvalidArgument (naming what is wrong) for a line that is not a valid
  // exchange; the report is unchanged then.
  Status AddLine(std::string_view line);

  const ShadowReport& report() const { return report_; }

 private:
  TraceAnalyzer(const GatewayOptions& options, std::unique_ptr<Normalizer> normalizer);

  const GatewayOptions options_;
  std::unique_ptr<Normalizer> normalizer_;
  DeploymentSecret secret_{};  // keys never leave the process: any fixed secret will do
  ShadowReport report_;
  // Key -> structured fingerprint of the first answer seen ("" when it could not be computed).
  std::unordered_map<std::string, std::string> stored_;
};

}  // namespace deja::server
