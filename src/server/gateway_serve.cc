// Serving a stored answer in the form the request asked for (stream or not).
#include <string>

#include "server/gateway.h"
#include "server/gateway_call.h"
#include "server/sse.h"
#include "server/stream_convert.h"

namespace deja::server {
namespace {

constexpr std::string_view kEventStream = "text/event-stream; charset=utf-8";
constexpr std::string_view kJson = "application/json";

}  // namespace

bool Gateway::ServeStored(Call& c, CachedResponse response, const EntryMeta* meta,
                          std::string_view outcome_header, Headers extra_headers) {
  std::string body;
  std::string_view content_type;
  // Embeddings never stream, whatever the request says.
  const bool want_stream = c.normalized.stream && c.route != Route::kEmbeddings;
  if (want_stream) {
    StatusOr<std::vector<StreamEvent>> events =
        response.streamed ? AdaptStreamUsage(c.route, response.events, c.normalized.include_usage)
                          : ExplodeBody(c.route, response.body, c.normalized.include_usage);
    if (!events.ok()) {
      metrics_.CountError(ErrorKind::kConversion);
      return false;
    }
    size_t size = 0;
    for (const StreamEvent& e : *events) size += e.event.size() + e.data.size() + 16;
    body.reserve(size);
    for (const StreamEvent& e : *events) AppendSse(e, &body);
    content_type = kEventStream;
  } else if (response.streamed) {
    StatusOr<std::string> assembled = AssembleStream(c.route, response.events);
    if (!assembled.ok()) {
      metrics_.CountError(ErrorKind::kConversion);
      return false;
    }
    body = std::move(*assembled);
    content_type = kJson;
  } else {
    body = std::move(response.body);  // callers hand over the entry they own: no copy on a hit
    content_type = response.content_type.empty() ? kJson : std::string_view(response.content_type);
  }
  Headers headers;
  headers.reserve(4 + extra_headers.size());
  headers.emplace_back("Content-Type", std::string(content_type));
  headers.emplace_back("X-Deja-Cache", std::string(outcome_header));
  headers.emplace_back("X-Deja-Key", c.key_hex);
  // A follower of a single flight (no meta) gets the answer fresh from upstream: age 0.
  const int64_t age_s = meta != nullptr ? (clock_->NowMillis() - meta->created_at_ms) / 1000 : 0;
  headers.emplace_back("Age", std::to_string(age_s < 0 ? 0 : age_s));
  for (auto& h : extra_headers) headers.push_back(std::move(h));
  if (meta != nullptr) metrics_.CountSaved(meta->model, meta->input_tokens, meta->output_tokens);
  // Accounted before the answer leaves, so anyone who has seen the answer also sees it counted.
  Finish(c, response.status, Outcome::kHit);
  c.writer->Send(response.status, std::move(headers), std::move(body));
  return true;
}

}  // namespace deja::server
