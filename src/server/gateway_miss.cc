// The miss path: single flight, forwarding upstream, streaming the answer back, storing it.
// Runs on worker threads (never on an I/O thread).
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "core/json.h"
#include "server/gateway.h"
#include "server/gateway_call.h"
#include "server/provider_errors.h"
#include "server/sse.h"
#include "server/stream_convert.h"

namespace deja::server {
namespace {

// Largest answer deja reads from upstream for a cached route; larger ones are refused with 502.
constexpr size_t kMaxUpstreamAnswerBytes = size_t{256} << 20;

bool IsResponseHopHeader(std::string_view name) {
  static constexpr std::string_view kHop[] = {
      "connection", "keep-alive", "transfer-encoding", "content-length",
      "te",         "trailer",    "upgrade",           "proxy-authenticate"};
  for (std::string_view h : kHop) {
    if (HeaderNameEquals(name, h)) return true;
  }
  return false;
}

Headers ForwardedRequestHeaders(const Headers& in) {
  Headers out;
  out.reserve(in.size() + 1);
  for (const auto& [name, value] : in) {
    if (!IsConsumedRequestHeader(name)) out.emplace_back(name, value);
  }
  // deja must read (and store) the bytes the provider sends, so it asks for them uncompressed.
  out.emplace_back("Accept-Encoding", "identity");
  return out;
}

// OpenAI streams carry token usage only when asked. deja asks on behalf of every streaming request
// so that stored streams can answer either kind of client later (and savings can be counted); the
// usage chunk is removed again for clients that did not ask.
bool ShouldForceUsage(const Gateway::Call& c) {
  return c.keyed && c.normalized.stream && !c.normalized.include_usage &&
         (c.route == Route::kChatCompletions || c.route == Route::kCompletions);
}

std::string BodyWithUsage(const std::string& body) {
  StatusOr<json::Value> doc = json::Parse(body);
  if (!doc.ok() || !doc->is_object()) return body;
  json::Value* so = doc->Find("stream_options");
  if (so == nullptr || !so->is_object()) {
    doc->Set("stream_options", json::Value::MakeObject());
    so = doc->Find("stream_options");
  }
  so->Set("include_usage", json::Value(true));
  return json::Write(*doc);
}

// The leader's answer as followers should see it: removes usage unless the client asked.
void AppendClientEvents(Route route, bool include_usage, const std::vector<StreamEvent>& events,
                        std::string* out) {
  if (include_usage || (route != Route::kChatCompletions && route != Route::kCompletions)) {
    for (const StreamEvent& e : events) AppendSse(e, out);
    return;
  }
  StatusOr<std::vector<StreamEvent>> adapted = AdaptStreamUsage(route, events, false);
  for (const StreamEvent& e : adapted.ok() ? *adapted : events) AppendSse(e, out);
}

}  // namespace

void Gateway::RunMiss(std::shared_ptr<Call> call) {
  Call& c = *call;
  // The semantic tier looks first (embedding runs here, on a worker thread, never on an I/O one).
  if (semantic_ != nullptr && c.keyed && c.outcome == Outcome::kMiss &&
      c.shadow_tier == ShadowTier::kNone && TrySemantic(c)) {
    return;
  }
  // Shadow mode sends every request upstream: nothing is shared between identical requests.
  const bool coalesce = c.keyed && c.outcome == Outcome::kMiss && !c.controls.no_store &&
                        mode_ != GatewayMode::kShadow;
  if (!coalesce) {
    (void)Forward(c, nullptr);
    return;
  }
  SingleFlight::Ticket ticket = flights_.Join(c.key);
  if (!ticket.leader) {
    metrics_.CountSingleFlightFollower();
    if (!Follow(c, *ticket.flight)) (void)Forward(c, nullptr);  // the leader failed: go ourselves
    return;
  }
  // A flight for this key may have finished between our lookup and Join: look once more.
  std::optional<CachedResponse> result;
  StatusOr<Entry> stored = deps_.store->Peek(c.key);
  if (stored.ok() && FreshEnough(c, stored->meta) &&
      ServeStored(c, stored->response, &stored->meta, "hit")) {
    result = std::move(stored->response);
  } else {
    result = Forward(c, ticket.flight.get());
  }
  // Removed before it is finished, so no request ever joins a finished flight: later arrivals find
  // the stored entry (with its TTL and age checks) or lead a flight of their own.
  flights_.Remove(c.key, ticket.flight);
  ticket.flight->Finish(std::move(result));
}

bool Gateway::Follow(Call& c, Flight& flight) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(options_.cache.single_flight_wait_ms);
  if (!c.normalized.stream || c.route == Route::kEmbeddings) {
    bool timed_out = false;
    std::optional<CachedResponse> result = flight.WaitResult(deadline, &timed_out);
    if (timed_out) metrics_.CountError(ErrorKind::kSingleFlightWait);
    return result && ServeStored(c, std::move(*result), nullptr, "hit");
  }
  size_t next = 0;
  bool started = false;
  auto wait_until = deadline;
  while (true) {
    std::vector<StreamEvent> batch;
    Flight::State state = flight.WaitEvents(&next, &batch, wait_until);
    if (!batch.empty()) {
      std::string out;
      AppendClientEvents(c.route, c.normalized.include_usage, batch, &out);
      if (!started) {
        // Age 0, as ServeStored gives followers: the answer is fresh from upstream.
        Headers headers = {{"Content-Type", "text/event-stream; charset=utf-8"},
                           {"X-Deja-Cache", "hit"},
                           {"X-Deja-Key", c.key_hex},
                           {"Age", "0"}};
        started = c.writer->StartStream(200, std::move(headers));
        // Once the leader streams, it is alive: wait as long as an upstream read may take.
        wait_until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(options_.upstreams.read_timeout_ms);
      }
      if (!started || !c.writer->Write(out)) {
        Finish(c, 200, Outcome::kHit);
        return true;  // our client went away; nothing more to do for it
      }
    }
    if (state == Flight::State::kSucceeded) {
      if (!started) {
        bool timed_out = false;
        std::optional<CachedResponse> result = flight.WaitResult(deadline, &timed_out);
        return result && ServeStored(c, std::move(*result), nullptr, "hit");
      }
      c.writer->Finish();
      Finish(c, 200, Outcome::kHit);
      return true;
    }
    if (state == Flight::State::kFailed) {
      if (!started) return false;
      Finish(c, 502, Outcome::kError);  // the shared upstream stream broke: ours is truncated too
      return true;
    }
    if (std::chrono::steady_clock::now() >= wait_until) {
      metrics_.CountError(ErrorKind::kSingleFlightWait);
      if (!started) return false;
      Finish(c, 504, Outcome::kError);
      return true;
    }
  }
}

std::optional<CachedResponse> Gateway::Forward(Call& c, Flight* flight) {
  std::optional<CachedResponse> result = ForwardUpstream(c, flight);
  // Whatever happened upstream (an answer, nothing, a broken stream), the observers hear it once.
  if (shadow_) RecordShadow(c, result ? &*result : nullptr);
  if (c.semantic_verify) VerifySemantic(c, result ? &*result : nullptr);
  return result;
}

std::optional<CachedResponse> Gateway::ForwardUpstream(Call& c, Flight* flight) {
  UpstreamRequest req;
  req.base_url =
      c.provider == Provider::kAnthropic ? options_.upstreams.anthropic : options_.upstreams.openai;
  req.method = c.http.method;
  req.target = c.http.target;
  req.headers = ForwardedRequestHeaders(c.http.headers);
  const bool force_usage = ShouldForceUsage(c);
  req.body = force_usage ? BodyWithUsage(c.http.body) : c.http.body;

  int status = 0;
  bool is_stream = false;
  bool started = false;
  bool client_gone = false;
  bool too_large = false;
  std::string content_type;
  Headers response_headers;
  std::string buffered;
  SseParser parser;
  std::vector<StreamEvent> events;

  auto on_head = [&](const UpstreamResponseHead& head) {
    status = head.status;
    metrics_.CountUpstreamStatus(status);
    content_type = std::string(FindHeader(head.headers, "content-type"));
    is_stream = status >= 200 && status < 300 && IsEventStream(content_type);
    for (const auto& [name, value] : head.headers) {
      if (!IsResponseHopHeader(name)) response_headers.emplace_back(name, value);
    }
    response_headers.emplace_back("X-Deja-Cache", std::string(c.cache_header));
    if (c.keyed) response_headers.emplace_back("X-Deja-Key", c.key_hex);
    if (is_stream) {
      started = c.writer->StartStream(status, response_headers);
      client_gone = !started;
      return started;
    }
    return true;
  };
  size_t received = 0;
  auto on_data = [&](std::string_view chunk) {
    received += chunk.size();
    if (received > kMaxUpstreamAnswerBytes) {
      too_large = true;
      return false;  // bounds memory (buffered bodies, SSE lines) for a runaway upstream
    }
    if (!is_stream) {
      buffered.append(chunk);
      return true;
    }
    std::vector<StreamEvent> batch;
    parser.Feed(chunk, &batch);
    if (batch.empty()) return true;
    std::string out;
    AppendClientEvents(c.route, !force_usage, batch, &out);
    for (StreamEvent& e : batch) {
      if (flight != nullptr) flight->PublishEvent(e);
      events.push_back(std::move(e));
    }
    if (!out.empty() && !c.writer->Write(out)) {
      client_gone = true;
      return false;  // never store an answer whose client aborted
    }
    return true;
  };

  const int64_t upstream_start = SteadyMicros();
  Status sent = deps_.upstream->Send(req, on_head, on_data);
  c.upstream_us = SteadyMicros() - upstream_start;
  metrics_.ObserveUpstream(c.upstream_us);

  if (!sent.ok()) {
    if (status == 0) {
      // Nothing came back: answer in the provider's error shape.
      metrics_.CountError(ErrorKind::kUpstream);
      const int code = sent.code() == StatusCode::kDeadlineExceeded ? 504 : 502;
      Headers headers = {{"Content-Type", "application/json"},
                         {"X-Deja-Cache", std::string(c.cache_header)}};
      c.writer->Send(code, std::move(headers),
                     ErrorBody(c.provider, code,
                               "deja could not get an answer from the upstream " + req.base_url +
                                   ": " + sent.message(),
                               code == 504 ? "upstream_timeout" : "upstream_unavailable"));
      Finish(c, code, Outcome::kError);
      return std::nullopt;
    }
    if (!client_gone) metrics_.CountError(ErrorKind::kUpstream);
    if (!is_stream) {
      Headers headers = {{"Content-Type", "application/json"},
                         {"X-Deja-Cache", std::string(c.cache_header)}};
      c.writer->Send(
          502, std::move(headers),
          too_large ? ErrorBody(c.provider, 502, "the upstream answer exceeds 256 MiB",
                                "upstream_too_large")
                    : ErrorBody(c.provider, 502, "the upstream answer broke off: " + sent.message(),
                                "upstream_truncated"));
    }
    // A broken stream is left unfinished: the writer closes the connection so the client sees a
    // truncated answer, exactly as if it had called the provider directly.
    Finish(c, is_stream ? status : 502, Outcome::kError);
    return std::nullopt;
  }

  // A complete answer is kept (for the caller's flight, and for shadow mode's comparison); it is
  // stored unless the request said no-store, or shadow mode found the entry live mode would serve.
  const bool keep = c.keyed && status >= 200 && status < 300;
  const bool storable = keep && !c.controls.no_store && c.shadow_tier == ShadowTier::kNone;
  // A refresh replaces an entry a repeat would otherwise still find, so it is written before the
  // client sees the end of its answer (read-your-writes). A plain miss answers first and writes
  // after: an immediate repeat joins its still-registered flight instead. Test modes always write
  // first: a test that got its answer may stop deja at once, and the recording must be there.
  const bool store_first = c.outcome == Outcome::kRefresh || mode_ != GatewayMode::kLive;
  std::optional<CachedResponse> result;
  if (is_stream) {
    if (keep && ClassifyStream(c.route, events) == StreamEnd::kClean) {
      result.emplace();
      result->status = status;
      result->content_type = content_type;
      result->streamed = true;
      result->events = std::move(events);
      if (store_first && storable) StoreAnswer(c, *result);
    }
    c.writer->Finish();
  } else {
    if (keep) {
      result.emplace();
      result->status = status;
      result->content_type = content_type.empty() ? "application/json" : content_type;
      result->body = buffered;
      if (store_first && storable) StoreAnswer(c, *result);
    }
    c.writer->Send(status, std::move(response_headers), std::move(buffered));
  }
  if (result && storable && !store_first) StoreAnswer(c, *result);
  Finish(c, status, c.outcome);
  return result;
}

void Gateway::StoreAnswer(Call& c, const CachedResponse& response) {
  Entry e;
  e.key = c.key;
  e.canonical_request = c.normalized.canonical;
  e.response = response;
  const int64_t now = clock_->NowMillis();
  e.meta.created_at_ms = now;
  const int64_t ttl_s = c.controls.ttl_s >= 0 ? c.controls.ttl_s : options_.cache.default_ttl_s;
  e.meta.expires_at_ms = ttl_s > 0 ? now + ttl_s * 1000 : 0;
  Usage usage = response.streamed ? ExtractStreamUsage(c.route, response.events)
                                  : ExtractUsage(c.route, response.body);
  e.meta.model = usage.model.empty() ? c.normalized.model : usage.model;
  e.meta.route = std::string(RoutePath(c.route));
  e.meta.name_space = c.controls.name_space;
  e.meta.input_tokens = usage.input_tokens;
  e.meta.output_tokens = usage.output_tokens;
  e.meta.upstream_latency_us = c.upstream_us;
  Status put = PutEntry(c, e);
  if (!put.ok()) {
    metrics_.CountError(ErrorKind::kStore);
    std::fprintf(stderr, "deja: could not store %s: %s\n", c.key_hex.c_str(),
                 put.ToString().c_str());
    return;
  }
  metrics_.CountStored(static_cast<int64_t>(e.canonical_request.size() + response.body.size()));
  if (c.semantic_query) AdmitSemantic(c, e);
}

Status Gateway::PutEntry(const Call& c, const Entry& e) {
  if (deps_.cassette != nullptr) return deps_.cassette->PutRecord(e, c.normalized.keyed_headers);
  return deps_.store->Put(e);
}

void Gateway::Proxy(std::shared_ptr<Call> call) {
  Call& c = *call;
  UpstreamRequest req;
  req.base_url =
      c.provider == Provider::kAnthropic ? options_.upstreams.anthropic : options_.upstreams.openai;
  req.method = c.http.method;
  req.target = c.http.target;
  req.headers = ForwardedRequestHeaders(c.http.headers);
  req.body = std::move(c.http.body);
  int status = 0;
  bool started = false;
  auto on_head = [&](const UpstreamResponseHead& head) {
    status = head.status;
    Headers headers;
    for (const auto& [name, value] : head.headers) {
      if (!IsResponseHopHeader(name)) headers.emplace_back(name, value);
    }
    started = c.writer->StartStream(status, std::move(headers));
    return started;
  };
  auto on_data = [&](std::string_view chunk) { return c.writer->Write(chunk); };
  const int64_t upstream_start = SteadyMicros();
  Status sent = deps_.upstream->Send(req, on_head, on_data);
  c.upstream_us = SteadyMicros() - upstream_start;
  if (status == 0) {
    metrics_.CountError(ErrorKind::kUpstream);
    const int code = sent.code() == StatusCode::kDeadlineExceeded ? 504 : 502;
    c.writer->Send(
        code, {{"Content-Type", "application/json"}},
        ErrorBody(c.provider, code,
                  "deja could not reach the upstream " + req.base_url + ": " + sent.message()));
    Finish(c, code, Outcome::kProxied);
    return;
  }
  if (sent.ok() && started) c.writer->Finish();
  Finish(c, status, Outcome::kProxied);
}

}  // namespace deja::server
