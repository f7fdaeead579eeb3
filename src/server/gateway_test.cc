// The gateway end to end in one process (testing::GatewayFixture): live mode. Test modes are in
// gateway_modes_test.cc.
#include "server/gateway.h"

#include <filesystem>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/gateway_test_util.h"
#include "server/http_server.h"

namespace deja::server {
namespace {

using testing::Call;
using testing::ClientResponse;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::kChat;
using testing::kChatStream;

class GatewayTest : public testing::GatewayFixture {};

TEST_F(GatewayTest, MissThenHitServesTheStoredAnswer) {
  Start();
  ClientResponse miss = Chat();
  ASSERT_TRUE(miss.status.ok()) << miss.status.ToString();
  EXPECT_EQ(miss.code, 200);
  EXPECT_EQ(miss.Header("X-Deja-Cache"), "miss");
  ClientResponse hit = Chat();
  EXPECT_EQ(hit.code, 200);
  EXPECT_EQ(hit.Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(hit.Header("X-Deja-Key").size(), 64u);
  EXPECT_EQ(hit.Header("X-Deja-Key"), miss.Header("X-Deja-Key"));
  EXPECT_EQ(hit.Header("Age"), "0");
  EXPECT_EQ(hit.body, miss.body);
  EXPECT_EQ(provider_.calls(), 1);
  clock_.Advance(5000);
  EXPECT_EQ(Chat().Header("Age"), "5");
  EXPECT_EQ(gateway_->metrics().requests(Route::kChatCompletions, Outcome::kHit), 2);
}

TEST_F(GatewayTest, VolatileFieldsAndMemberOrderShareTheEntry) {
  Start();
  Chat();
  ClientResponse hit =
      Chat(R"({"messages":[{"content":"hi","role":"user"}],"user":"u-123","model":"gpt-test"})");
  EXPECT_EQ(hit.Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(
      Chat(R"({"model":"gpt-test","temperature":0,"messages":[{"role":"user","content":"hi"}]})")
          .Header("X-Deja-Cache"),
      "miss");
}

TEST_F(GatewayTest, StoredStreamAnswersAJsonRequest) {
  Start();
  ClientResponse streamed = Chat(kChatStream);
  EXPECT_EQ(streamed.Header("X-Deja-Cache"), "miss");
  EXPECT_THAT(streamed.body, HasSubstr("data: [DONE]"));
  // deja asked upstream for usage on the client's behalf and removed it again.
  EXPECT_THAT(provider_.last_body(), HasSubstr("include_usage"));
  EXPECT_THAT(streamed.body, Not(HasSubstr("prompt_tokens")));
  ClientResponse json = Chat();
  EXPECT_EQ(json.Header("X-Deja-Cache"), "hit");
  auto body = json::Parse(json.body);
  ASSERT_TRUE(body.ok()) << json.body;
  EXPECT_EQ(body->GetString("object"), "chat.completion");
  EXPECT_THAT(json.body, HasSubstr("answer to hi"));
  ClientResponse with_usage = Chat(
      R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}})");
  EXPECT_EQ(with_usage.Header("X-Deja-Cache"), "hit");
  EXPECT_THAT(with_usage.body, HasSubstr("prompt_tokens"));
  EXPECT_EQ(provider_.calls(), 1);
}

TEST_F(GatewayTest, StoredJsonAnswersAStreamRequest) {
  Start();
  Chat();
  ClientResponse streamed = Chat(kChatStream);
  EXPECT_EQ(streamed.Header("X-Deja-Cache"), "hit");
  EXPECT_THAT(streamed.Header("Content-Type"), HasSubstr("text/event-stream"));
  EXPECT_THAT(streamed.body, HasSubstr("chat.completion.chunk"));
  EXPECT_THAT(streamed.body, HasSubstr("data: [DONE]"));
  EXPECT_EQ(provider_.calls(), 1);
}

TEST_F(GatewayTest, TenantsNeverShareEntries) {
  Start();
  EXPECT_EQ(Chat(kChat, {{"Authorization", "Bearer sk-a"}}).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat(kChat, {{"Authorization", "Bearer sk-b"}}).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat(kChat, {{"Authorization", "Bearer sk-a"}}).Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(provider_.calls(), 2);
  // The API key reaches the provider; deja's own headers do not.
  Chat(
      kChat,
      {{"Authorization", "Bearer sk-c"}, {"X-Deja-Namespace", "n"}, {"Cache-Control", "no-store"}});
  Headers seen = provider_.last_headers();
  EXPECT_EQ(FindHeader(seen, "authorization"), "Bearer sk-c");
  EXPECT_EQ(FindHeader(seen, "x-deja-namespace"), "");
  EXPECT_EQ(FindHeader(seen, "cache-control"), "");
}

TEST_F(GatewayTest, PerRequestControls) {
  Start();
  Chat();
  EXPECT_EQ(Chat(kChat, {{"Cache-Control", "no-cache"}}).Header("X-Deja-Cache"), "refresh");
  EXPECT_EQ(Chat(kChat, {{"X-Deja-Cache", "off"}}).Header("X-Deja-Cache"), "bypass");
  EXPECT_EQ(Chat(kChat, {{"X-Deja-Namespace", "other"}}).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat(kChat, {{"X-Deja-Namespace", "other"}}).Header("X-Deja-Cache"), "hit");
  const std::string fresh = R"({"model":"gpt-test","messages":[{"role":"user","content":"new"}]})";
  EXPECT_EQ(Chat(fresh, {{"Cache-Control", "no-store"}}).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat(fresh).Header("X-Deja-Cache"), "miss");
  clock_.Advance(10'000);
  EXPECT_EQ(Chat(kChat, {{"Cache-Control", "max-age=5"}}).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat(kChat, {{"Cache-Control", "max-age=60"}}).Header("X-Deja-Cache"), "hit");
  ClientResponse bad = Chat(kChat, {{"X-Deja-TTL", "soon"}});
  EXPECT_EQ(bad.code, 400);
  EXPECT_THAT(bad.body, HasSubstr("X-Deja-TTL"));
}

TEST_F(GatewayTest, TtlExpiresEntries) {
  Start();
  Chat(kChat, {{"X-Deja-TTL", "10"}});
  EXPECT_EQ(Chat().Header("X-Deja-Cache"), "hit");
  clock_.Advance(11'000);
  EXPECT_EQ(Chat().Header("X-Deja-Cache"), "miss");
}

TEST_F(GatewayTest, ConcurrentIdenticalMissesMakeOneUpstreamCall) {
  Start();
  const std::string gated = R"({"model":"gated","messages":[{"role":"user","content":"hi"}]})";
  const std::string gated_stream =
      R"({"model":"gated","messages":[{"role":"user","content":"hi"}],"stream":true})";
  std::vector<ClientResponse> results(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      UpstreamClient client;
      results[i] = Call(client, server_->port(), "POST", "/v1/chat/completions",
                        i % 2 ? gated_stream : gated);
    });
  }
  ASSERT_TRUE(provider_.WaitGated(1));
  // Release only once the three followers have joined the leader's flight.
  for (int spins = 0; gateway_->metrics().single_flight_followers() < 3 && spins < 1'000'000;
       ++spins) {
    std::this_thread::yield();
  }
  EXPECT_EQ(gateway_->metrics().single_flight_followers(), 3);
  provider_.Release();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(provider_.calls(), 1);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(results[i].code, 200) << i;
    EXPECT_THAT(results[i].body, HasSubstr("answer to hi")) << i;
    if (i % 2) {
      EXPECT_THAT(results[i].body, HasSubstr("[DONE]")) << i;
    }
    // Followers, streaming ones included, carry the hit headers (fresh from upstream: Age 0).
    if (results[i].Header("X-Deja-Cache") == "hit") {
      EXPECT_EQ(results[i].Header("Age"), "0") << i;
    }
  }
}

TEST_F(GatewayTest, UpstreamErrorsPassThroughAndAreNotStored) {
  Start();
  const std::string body = R"({"model":"error","messages":[{"role":"user","content":"hi"}]})";
  ClientResponse first = Chat(body);
  EXPECT_EQ(first.code, 500);
  EXPECT_THAT(first.body, HasSubstr("boom"));
  EXPECT_EQ(Chat(body).code, 500);
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewayTest, TruncatedStreamsAreNotStored) {
  Start();
  const std::string body =
      R"({"model":"truncate","messages":[{"role":"user","content":"hi"}],"stream":true})";
  ClientResponse first = Chat(body);
  EXPECT_THAT(first.body, Not(HasSubstr("[DONE]")));
  EXPECT_EQ(Chat(body).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewayTest, StoreFailureFailsOpen) {
  testing::FailingStore failing;
  Start({}, &failing);
  ClientResponse r = Chat();
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.Header("X-Deja-Cache"), "error");
  EXPECT_THAT(r.body, HasSubstr("answer to hi"));
  EXPECT_GE(gateway_->metrics().errors(ErrorKind::kStore), 1);
}

TEST_F(GatewayTest, BadRequestsGetProviderShapedErrors) {
  Start();
  ClientResponse bad = Chat(R"({"model": "x", "messages": [})");
  EXPECT_EQ(bad.code, 400);
  auto err = json::Parse(bad.body);
  ASSERT_TRUE(err.ok());
  ASSERT_NE(err->Find("error"), nullptr);
  EXPECT_EQ(err->Find("error")->GetString("type"), "invalid_request_error");
  ClientResponse anthropic = Post("/v1/messages", "{oops");
  EXPECT_EQ(anthropic.code, 400);
  EXPECT_THAT(anthropic.body, HasSubstr(R"("type":"error")"));
  ClientResponse deep = Chat(std::string(200, '[') + std::string(200, ']'));
  EXPECT_EQ(deep.code, 400);
  ClientResponse get = Call(client_, server_->port(), "GET", "/v1/chat/completions", "");
  EXPECT_EQ(get.code, 405);
  EXPECT_EQ(provider_.calls(), 0);
}

TEST_F(GatewayTest, UnreachableUpstreamIs502) {
  GatewayOptions options;
  options.upstreams.openai = "http://127.0.0.1:1";
  Start(options);
  ClientResponse r = Chat();
  EXPECT_EQ(r.code, 502);
  EXPECT_THAT(r.body, HasSubstr("upstream"));
  EXPECT_EQ(gateway_->metrics().errors(ErrorKind::kUpstream), 1);
}

TEST_F(GatewayTest, OtherPathsAreProxiedUncached) {
  Start();
  ClientResponse a = Call(client_, server_->port(), "GET", "/v1/models", "");
  EXPECT_EQ(a.code, 200);
  EXPECT_THAT(a.body, HasSubstr("list"));
  Call(client_, server_->port(), "GET", "/v1/models", "");
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewayTest, TemperaturePolicy) {
  GatewayOptions options;
  options.cache.cache_nonzero_temperature = false;
  Start(options);
  EXPECT_EQ(Chat().Header("X-Deja-Cache"), "bypass");  // unset means 1
  const std::string cold =
      R"({"model":"gpt-test","temperature":0,"messages":[{"role":"user","content":"hi"}]})";
  EXPECT_EQ(Chat(cold).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat(cold).Header("X-Deja-Cache"), "hit");
}

TEST_F(GatewayTest, AdminEndpoints) {
  GatewayOptions options;
  options.server.admin_token = "tok";
  Start(options);
  ClientResponse miss = Chat();
  Chat();
  EXPECT_EQ(Call(client_, server_->port(), "GET", "/healthz", "").code, 200);
  ClientResponse metrics = Call(client_, server_->port(), "GET", "/metrics", "");
  EXPECT_THAT(metrics.body,
              HasSubstr(R"(deja_requests_total{route="/v1/chat/completions",outcome="hit"} 1)"));
  EXPECT_THAT(metrics.body, HasSubstr("deja_store_entries 1"));
  ClientResponse stats = Call(client_, server_->port(), "GET", "/deja/stats", "");
  EXPECT_THAT(stats.body, HasSubstr(R"("entries":1)"));
  EXPECT_EQ(Call(client_, server_->port(), "POST", "/deja/purge", R"({"all":true})").code, 401);
  const Headers auth = {{"Authorization", "Bearer tok"}};
  EXPECT_EQ(Call(client_, server_->port(), "POST", "/deja/purge", "{}", auth).code, 400);
  const std::string key = miss.Header("X-Deja-Key");
  EXPECT_EQ(Call(client_, server_->port(), "DELETE", "/deja/entries/" + key, "", auth).code, 200);
  EXPECT_EQ(Call(client_, server_->port(), "DELETE", "/deja/entries/" + key, "", auth).code, 404);
  Chat();
  ClientResponse purged =
      Call(client_, server_->port(), "POST", "/deja/purge", R"({"all":true})", auth);
  EXPECT_EQ(purged.body, R"({"purged":1})");
  EXPECT_EQ(Chat().Header("X-Deja-Cache"), "miss");
}

}  // namespace
}  // namespace deja::server
