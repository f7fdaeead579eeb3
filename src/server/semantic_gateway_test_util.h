// Shared scaffolding of the in-process semantic-tier gateway tests (gateway_semantic*_test.cc,
// gateway_embedder_breaker_test.cc): a chat body builder and a GatewayFixture whose semantic tier
// is built as `deja serve --semantic` builds it, with readers for the tier's stats.
// Thread safety: test-thread only.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/json.h"
#include "deja/gateway_options.h"
#include "semantic/embedder.h"
#include "server/gateway_test_util.h"

namespace deja::server::testing {

// {"model": model, "messages": [{"role": "user", "content": question}]} (+ "stream": true).
std::string ChatBody(const std::string& question, const std::string& model = "gpt-test",
                     bool stream = false);

class SemanticGatewayFixture : public GatewayFixture {
 protected:
  // Installs a semantic factory: OpenSemanticCache over the fixture's store, with `embedder_` when
  // a test set one (else the embedder the options name).
  void SetUp() override;

  // Semantic tier on, seeded; verification off (max_false_hit_rate 1) unless given.
  static GatewayOptions SemanticOptions(double max_false_hit_rate = 1);

  json::Value Stats();  // GET /deja/stats
  // GET /deja/stats' semantic.<a>[.<b>] as a number; -1 when absent.
  double Semantic(std::string_view a, std::string_view b = {});
  std::string Metrics();  // GET /metrics
  static Headers NoStore() { return {{"Cache-Control", "no-store"}}; }

  std::shared_ptr<const semantic::Embedder> embedder_;  // nullptr: from the options
};

}  // namespace deja::server::testing
