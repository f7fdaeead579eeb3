#include "server/semantic_gateway_test_util.h"

#include <gtest/gtest.h>

#include "server/semantic_setup.h"

namespace deja::server::testing {

std::string ChatBody(const std::string& question, const std::string& model, bool stream) {
  json::Value msg = json::Value::MakeObject();
  msg.Set("role", json::Value("user"));
  msg.Set("content", json::Value(question));
  json::Array messages;
  messages.push_back(std::move(msg));
  json::Value body = json::Value::MakeObject();
  body.Set("model", json::Value(model));
  body.Set("messages", json::Value(std::move(messages)));
  if (stream) body.Set("stream", json::Value(true));
  return json::Write(body);
}

void SemanticGatewayFixture::SetUp() {
  GatewayFixture::SetUp();
  semantic_factory_ = [this](const GatewayOptions& o, Store& store) {
    auto cache = OpenSemanticCache(o, store, embedder_);
    EXPECT_TRUE(cache.ok()) << cache.status().ToString();
    return cache.ok() ? std::move(*cache) : nullptr;
  };
}

GatewayOptions SemanticGatewayFixture::SemanticOptions(double max_false_hit_rate) {
  GatewayOptions o;
  o.semantic.enabled = true;
  o.semantic.max_false_hit_rate = max_false_hit_rate;
  o.semantic.seed = 7;
  return o;
}

json::Value SemanticGatewayFixture::Stats() {
  ClientResponse r = Call(client_, server_->port(), "GET", "/deja/stats", "");
  StatusOr<json::Value> v = json::Parse(r.body);
  EXPECT_TRUE(v.ok()) << r.body;
  return v.ok() ? std::move(*v) : json::Value();
}

double SemanticGatewayFixture::Semantic(std::string_view a, std::string_view b) {
  json::Value s = Stats();
  const json::Value* x = s.Find("semantic");
  if (x != nullptr) x = x->Find(a);
  if (x != nullptr && !b.empty()) x = x->Find(b);
  return x != nullptr && x->is_number() ? x->as_number() : -1;
}

std::string SemanticGatewayFixture::Metrics() {
  return Call(client_, server_->port(), "GET", "/metrics", "").body;
}

}  // namespace deja::server::testing
