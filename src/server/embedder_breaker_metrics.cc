#include "server/embedder_breaker_metrics.h"

#include <cstdint>
#include <optional>
#include <string_view>

#include "semantic/circuit_breaker.h"

namespace deja::server {
namespace {

using semantic::CircuitBreaker;

void Header(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
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

void Sample(std::string* out, std::string_view name, std::string_view labels, uint64_t v) {
  *out += name;
  *out += labels;
  *out += ' ';
  *out += std::to_string(v);
  *out += '\n';
}

}  // namespace

void RenderEmbedderBreaker(const semantic::Embedder& embedder, std::string* out) {
  const std::optional<CircuitBreaker::Counters> c = embedder.BreakerCounters();
  if (!c) return;
  Header(out, "deja_semantic_embedder_breaker_open", "gauge",
         "1 while the remote embedder's circuit breaker refuses calls (open or half-open).");
  Sample(out, "deja_semantic_embedder_breaker_open", "",
         c->state != CircuitBreaker::State::kClosed);
  Header(out, "deja_semantic_embedder_breaker_state", "gauge",
         "The remote embedder's circuit breaker state (1 for the current one).");
  for (CircuitBreaker::State s : {CircuitBreaker::State::kClosed, CircuitBreaker::State::kOpen,
                                  CircuitBreaker::State::kHalfOpen}) {
    Sample(out, "deja_semantic_embedder_breaker_state",
           "{state=\"" + std::string(semantic::CircuitStateName(s)) + "\"}", c->state == s);
  }
  Header(out, "deja_semantic_embedder_breaker_trips_total", "counter",
         "Times the remote embedder's circuit breaker opened.");
  Sample(out, "deja_semantic_embedder_breaker_trips_total", "", c->opened);
  Header(out, "deja_semantic_embedder_short_circuited_total", "counter",
         "Embedding calls refused at once by the open circuit breaker.");
  Sample(out, "deja_semantic_embedder_short_circuited_total", "", c->short_circuited);
}

void AddEmbedderBreakerJson(const semantic::Embedder& embedder, json::Value* semantic_stats) {
  const std::optional<CircuitBreaker::Counters> c = embedder.BreakerCounters();
  if (!c) return;
  auto count = [](uint64_t v) { return json::Value(static_cast<int64_t>(v)); };
  json::Value b = json::Value::MakeObject();
  b.Set("state", json::Value(semantic::CircuitStateName(c->state)));
  b.Set("open", json::Value(c->state != CircuitBreaker::State::kClosed));
  b.Set("trips", count(c->opened));
  b.Set("short_circuited", count(c->short_circuited));
  b.Set("consecutive_failures", json::Value(static_cast<int64_t>(c->consecutive_failures)));
  b.Set("failures", count(c->failures));
  b.Set("successes", count(c->successes));
  semantic_stats->Set("embedder_breaker", std::move(b));
}

}  // namespace deja::server
