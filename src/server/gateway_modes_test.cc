// Test modes (record, replay, record-missing) through the real gateway, with cassettes and with the
// data-directory store.
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/key.h"
#include "core/normalize.h"
#include "server/cassette_format.h"
#include "server/gateway.h"
#include "server/gateway_test_util.h"

namespace deja::server {
namespace {

using testing::Call;
using testing::ClientResponse;
using ::testing::HasSubstr;
using testing::kChat;
using testing::kChatStream;
using ::testing::Not;

constexpr char kHello[] = R"({"model":"gpt-test","messages":[{"role":"user","content":"hello"}]})";
constexpr char kMessages[] =
    R"({"model":"claude-test","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The same JSON document (a recording is served compact, whatever whitespace upstream used).
void ExpectSameJson(const std::string& a, const std::string& b) {
  StatusOr<json::Value> x = json::Parse(a), y = json::Parse(b);
  ASSERT_TRUE(x.ok() && y.ok()) << a << "\n" << b;
  EXPECT_EQ(json::WriteCanonical(*x), json::WriteCanonical(*y));
}

class GatewayModesTest : public testing::GatewayFixture {
 protected:
  void SetUp() override {
    GatewayFixture::SetUp();
    cassette_path_ = TempPath("cassette.json");
    temp_files_.push_back(cassette_path_);
  }

  GatewayOptions Mode(const std::string& mode, bool cassette = true) {
    GatewayOptions o;
    o.server.mode = mode;
    if (cassette) o.cassette.path = cassette_path_;
    return o;
  }

  std::string cassette_path_;
};

TEST_F(GatewayModesTest, RecordAlwaysCallsUpstreamAndKeepsTheLatestAnswer) {
  Start(Mode("record"));
  ClientResponse a = Chat();
  ClientResponse b = Chat();
  EXPECT_EQ(a.code, 200);
  EXPECT_EQ(a.Header("X-Deja-Cache"), "refresh");
  EXPECT_EQ(b.Header("X-Deja-Cache"), "refresh");
  EXPECT_EQ(provider_.calls(), 2);
  EXPECT_THAT(a.body, HasSubstr("chatcmpl-0"));
  EXPECT_THAT(b.body, HasSubstr("chatcmpl-1"));
  // X-Deja-Cache: off still goes upstream in record mode, but is not recorded.
  EXPECT_EQ(Chat(kHello, {{"X-Deja-Cache", "off"}}).Header("X-Deja-Cache"), "bypass");
  Stop();
  const std::string text = ReadFile(cassette_path_);
  EXPECT_THAT(text, HasSubstr("chatcmpl-1"));
  EXPECT_THAT(text, Not(HasSubstr("chatcmpl-0")));
  EXPECT_THAT(text, Not(HasSubstr("hello")));
  StatusOr<std::vector<CassetteRecord>> records = ReadCassetteFile(cassette_path_);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  EXPECT_EQ(records->size(), 1u);
}

TEST_F(GatewayModesTest, ReplayServesRecordingsAndNeverCallsUpstream) {
  Start(Mode("record"));
  ClientResponse recorded = Chat();
  ClientResponse recorded_stream = Chat(
      R"({"model":"gpt-test","messages":[{"role":"user","content":"stream me"}],"stream":true})");
  EXPECT_THAT(recorded_stream.body, HasSubstr("[DONE]"));
  Stop();
  ASSERT_EQ(provider_.calls(), 2);

  Start(Mode("replay"));
  ClientResponse hit = Chat();
  EXPECT_EQ(hit.code, 200);
  EXPECT_EQ(hit.Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(hit.Header("X-Deja-Key"), recorded.Header("X-Deja-Key"));
  ExpectSameJson(hit.body, recorded.body);
  // A JSON recording answers a stream request as a stream, and a stream recording a stream.
  ClientResponse as_stream = Chat(kChatStream);
  EXPECT_THAT(as_stream.Header("Content-Type"), HasSubstr("text/event-stream"));
  EXPECT_THAT(as_stream.body, HasSubstr("answer to hi"));
  EXPECT_THAT(as_stream.body, HasSubstr("data: [DONE]"));
  ClientResponse stream_hit = Chat(
      R"({"model":"gpt-test","messages":[{"role":"user","content":"stream me"}],"stream":true})");
  EXPECT_EQ(stream_hit.Header("X-Deja-Cache"), "hit");
  EXPECT_THAT(stream_hit.body, HasSubstr("answer to stream me"));
  EXPECT_THAT(stream_hit.body, HasSubstr("data: [DONE]"));
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewayModesTest, ReplayMissNamesTheClosestRecordingAndTheDifferingField) {
  Start(Mode("record"));
  Chat();
  Chat(R"({"model":"gpt-test","messages":[{"role":"user","content":"something else"}],"n":2})");
  Stop();
  Start(Mode("replay"));
  ClientResponse miss = Chat(kHello);
  EXPECT_EQ(miss.code, 404);
  EXPECT_EQ(miss.Header("X-Deja-Cache"), "not-recorded");
  EXPECT_EQ(miss.Header("X-Deja-Key").size(), 64u);
  StatusOr<json::Value> body = json::Parse(miss.body);
  ASSERT_TRUE(body.ok()) << miss.body;
  const json::Value* error = body->Find("error");
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->GetString("code"), "not_recorded");
  EXPECT_EQ(error->GetString("type"), "not_found_error");
  const std::string message(error->GetString("message"));
  EXPECT_THAT(message, HasSubstr(miss.Header("X-Deja-Key")));
  EXPECT_THAT(message, HasSubstr(R"(/messages/0/content: recorded "hi", this request "hello")"));
  EXPECT_THAT(message, HasSubstr("1 field"));
  const json::Value* closest = error->Find("deja")->Find("closest");
  ASSERT_NE(closest, nullptr);
  EXPECT_EQ(closest->Find("differences")->as_array()[0].GetString("pointer"),
            "/messages/0/content");
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewayModesTest, ReplayRefusesEverythingThatWouldNeedTheUpstream) {
  Start(Mode("record"));
  Chat();
  Stop();
  Start(Mode("replay"));
  ClientResponse off = Chat(kChat, {{"X-Deja-Cache", "off"}});
  EXPECT_EQ(off.code, 400);
  EXPECT_THAT(off.body, HasSubstr("replay_needs_upstream"));
  EXPECT_EQ(Chat(kChat, {{"Cache-Control", "no-cache"}}).code, 400);
  ClientResponse models = Call(client_, server_->port(), "GET", "/v1/models", "");
  EXPECT_EQ(models.code, 404);
  EXPECT_THAT(models.body, HasSubstr("not_recorded"));
  // Per-request controls that do not need the upstream are fine: no-store, max-age.
  clock_.Advance(3'600'000);
  EXPECT_EQ(Chat(kChat, {{"Cache-Control", "max-age=1"}}).Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(Chat(kChat, {{"Cache-Control", "no-store"}}).Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(provider_.calls(), 1);
}

TEST_F(GatewayModesTest, RecordMissingReplaysWhatIsRecordedAndRecordsTheRest) {
  Start(Mode("record-missing"));
  EXPECT_EQ(Chat().Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(Chat().Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(Chat(kHello).Header("X-Deja-Cache"), "miss");
  EXPECT_EQ(provider_.calls(), 2);
  Stop();
  Start(Mode("record-missing"));
  EXPECT_EQ(Chat(kHello).Header("X-Deja-Cache"), "hit");
  Stop();
  Start(Mode("replay"));
  EXPECT_EQ(Chat().Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(Chat(kHello).Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewayModesTest, CassetteKeysDoNotDependOnTheApiKeyAndNoCredentialIsWritten) {
  Start(Mode("record"));
  ClientResponse a = Chat(kChat, {{"Authorization", "Bearer sk-secret-recorder-123"}});
  ClientResponse m =
      Post("/v1/messages", kMessages,
           {{"x-api-key", "sk-ant-secret-456"}, {"anthropic-version", "2023-06-01"}});
  EXPECT_EQ(m.code, 200);
  Stop();
  const std::string text = Lower(ReadFile(cassette_path_));
  EXPECT_THAT(text, Not(HasSubstr("sk-secret-recorder-123")));
  EXPECT_THAT(text, Not(HasSubstr("sk-ant-secret-456")));
  EXPECT_THAT(text, Not(HasSubstr("authorization")));
  EXPECT_THAT(text, Not(HasSubstr("x-api-key")));
  EXPECT_THAT(text, Not(HasSubstr("bearer")));
  // The headers that entered the key are kept (they are not secrets).
  EXPECT_THAT(text, HasSubstr(R"("anthropic-version": "2023-06-01")"));

  // The key is reproducible from the record alone: fixed secret, shared scope.
  auto normalizer = Normalizer::Create({});
  ASSERT_TRUE(normalizer.ok());
  StatusOr<NormalizedRequest> n =
      (*normalizer)->Normalize(Route::kChatCompletions, *json::Parse(kChat), {});
  ASSERT_TRUE(n.ok());
  const TenantScope scope = ScopeForCredential(CassetteSecret(), kSharedScopeCredential);
  EXPECT_EQ(ComputeKey(scope, "", Route::kChatCompletions, *n).Hex(), a.Header("X-Deja-Key"));

  // Another machine, another API key: the same recording.
  Start(Mode("replay"));
  EXPECT_EQ(Chat(kChat, {{"Authorization", "Bearer sk-someone-else"}}).Header("X-Deja-Cache"),
            "hit");
  EXPECT_EQ(Post("/v1/messages", kMessages,
                 {{"x-api-key", "sk-ant-other"}, {"anthropic-version", "2023-06-01"}})
                .Header("X-Deja-Cache"),
            "hit");
  // A different anthropic-version is a different request, and the error (Anthropic's shape)
  // says so.
  ClientResponse other = Post("/v1/messages", kMessages,
                              {{"x-api-key", "sk-ant-other"}, {"anthropic-version", "2024-01-01"}});
  EXPECT_EQ(other.code, 404);
  StatusOr<json::Value> body = json::Parse(other.body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->GetString("type"), "error");
  EXPECT_EQ(body->Find("error")->GetString("type"), "not_found_error");
  EXPECT_EQ(body->Find("error")->Find("deja")->GetString("code"), "not_recorded");
  EXPECT_THAT(
      std::string(body->Find("error")->GetString("message")),
      HasSubstr(R"(header anthropic-version: recorded "2023-06-01", this request "2024-01-01")"));
  EXPECT_EQ(provider_.calls(), 2);
}

TEST_F(GatewayModesTest, TestModesIgnoreCachePolicy) {
  GatewayOptions o = Mode("record");
  o.cache.enabled = false;
  o.cache.cache_nonzero_temperature = false;
  o.cache.models = {"some-other-model"};
  o.cache.routes = {"/v1/embeddings"};
  Start(o);
  EXPECT_EQ(Chat().Header("X-Deja-Cache"), "refresh");
  Stop();
  o.server.mode = "replay";
  Start(o);
  EXPECT_EQ(Chat().Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(provider_.calls(), 1);
}

TEST_F(GatewayModesTest, RedactedFieldsAreWrittenAndServedRedacted) {
  GatewayOptions o = Mode("record");
  o.cassette.redact_pointers = {"/response/body/id"};
  Start(o);
  EXPECT_THAT(Chat().body, HasSubstr("chatcmpl-0"));  // the live answer is untouched
  Stop();
  EXPECT_THAT(ReadFile(cassette_path_), Not(HasSubstr("chatcmpl-0")));
  o.server.mode = "replay";
  Start(o);
  ClientResponse hit = Chat();
  EXPECT_EQ(hit.Header("X-Deja-Cache"), "hit");
  EXPECT_EQ(json::Parse(hit.body)->GetString("id"), "[REDACTED]");
}

TEST_F(GatewayModesTest, UsedLogListsTheRecordsAReplayUsed) {
  Start(Mode("record"));
  ClientResponse used = Chat();
  Chat(kHello);
  Stop();
  GatewayOptions o = Mode("replay");
  o.cassette.used_log = TempPath("used.log");
  temp_files_.push_back(o.cassette.used_log);
  Start(o);
  Chat();
  Chat();
  Stop();
  EXPECT_EQ(ReadFile(o.cassette.used_log), used.Header("X-Deja-Key") + "\n");
}

TEST_F(GatewayModesTest, ModesWorkWithTheDataDirectoryStoreToo) {
  Start(Mode("record", false));
  Chat(kChat, {{"Authorization", "Bearer sk-a"}});
  Stop();
  Start(Mode("replay", false));
  EXPECT_EQ(Chat(kChat, {{"Authorization", "Bearer sk-a"}}).Header("X-Deja-Cache"), "hit");
  // Without a cassette the tenant scope applies: another key was not recorded, and the
  // explanation says the request itself is identical.
  ClientResponse other = Chat(kChat, {{"Authorization", "Bearer sk-b"}});
  EXPECT_EQ(other.code, 404);
  EXPECT_THAT(other.body, HasSubstr("tenant scope"));
  EXPECT_EQ(provider_.calls(), 1);
}

TEST_F(GatewayModesTest, ReplayWithoutTheCassetteFileFailsToStart) {
  CassetteStoreOptions co;
  co.path = cassette_path_;
  co.create_if_missing = false;
  EXPECT_EQ(CassetteStore::Open(co).status().code(), StatusCode::kNotFound);
  GatewayOptions bad;
  bad.server.mode = "rewind";
  EXPECT_THAT(bad.Validate().message(), HasSubstr("server.mode"));
}

}  // namespace
}  // namespace deja::server
