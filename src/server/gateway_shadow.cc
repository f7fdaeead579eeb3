// Shadow mode: tallying what the cache would have done (gateway.h, shadow_report.h).
#include <cstdio>

#include "server/answer_compare.h"
#include "server/gateway.h"
#include "server/gateway_call.h"
#include "server/stream_convert.h"

namespace deja::server {

void Gateway::RecordShadow(const Call& c, const CachedResponse* fresh) {
  ShadowObservation o;
  o.route = c.route;
  o.deterministic = c.deterministic;
  o.would_be = c.shadow_tier;
  o.upstream_latency_us = c.upstream_us;
  if (fresh != nullptr) {
    Usage usage = fresh->streamed ? ExtractStreamUsage(c.route, fresh->events)
                                  : ExtractUsage(c.route, fresh->body);
    o.model = usage.model;
    o.input_tokens = usage.input_tokens;
    o.output_tokens = usage.output_tokens;
  }
  if (o.model.empty()) o.model = c.normalized.model;
  if (fresh != nullptr && c.shadow_stored.has_value()) {
    // The comparison the semantic tier's verification and `deja replay` use (answer_compare.h).
    StatusOr<AnswerComparison> same =
        SameAnswer(c.route, AnswerMatch::kStructured, *c.shadow_stored, *fresh, nullptr, 0);
    o.comparable = same.ok();
    o.equivalent = same.ok() && same->same;
    if (o.comparable && !o.equivalent) {
      // A would-be false hit is what the operator most needs to look at: name the entry.
      std::fprintf(stderr,
                   "deja shadow: would-be false hit on %s (%s): the stored answer differs\n",
                   c.key_hex.c_str(), o.model.c_str());
    }
  }
  shadow_->Record(o);
}

}  // namespace deja::server
