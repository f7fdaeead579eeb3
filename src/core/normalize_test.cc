#include "core/normalize.h"

#include <gtest/gtest.h>

#include "core/json.h"

namespace deja {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string Canon(Route route, std::string_view body, const NormalizeOptions& options = {},
                  const Headers& headers = {}) {
  auto n = Normalizer::Create(options);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  auto doc = json::Parse(body);
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  auto r = (*n)->Normalize(route, std::move(*doc), headers);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r->canonical + "|" + r->keyed_headers;
}

constexpr Route kChat = Route::kChatCompletions;

TEST(NormalizeTest, DropsTransportFieldsOnly) {
  EXPECT_EQ(Canon(kChat, R"({"model":"m","messages":[],"stream":true,"user":"u1",
                           "stream_options":{"include_usage":true},"metadata":{"a":"b"}})"),
            Canon(kChat, R"({"model":"m","messages":[]})"));
}

TEST(NormalizeTest, KeepsEverythingThatChangesTheAnswer) {
  const std::string base = Canon(kChat, R"({"model":"m","messages":[]})");
  for (const char* extra :
       {R"("temperature":0)", R"("top_p":0.5)", R"("max_tokens":5)", R"("stop":["x"])",
        R"("seed":1)", R"("n":2)", R"("tools":[])", R"("tool_choice":"none")",
        R"("response_format":{"type":"json_object"})", R"("logit_bias":{"1":1})",
        R"("reasoning_effort":"low")", R"("some_future_field":1)"}) {
    std::string body = std::string(R"({"model":"m","messages":[],)") + extra + "}";
    EXPECT_NE(Canon(kChat, body), base) << extra;
  }
  EXPECT_NE(Canon(kChat, R"({"model":"m2","messages":[]})"), base);
}

TEST(NormalizeTest, CanonicalFormIgnoresMemberOrderAndWhitespace) {
  EXPECT_EQ(Canon(kChat, R"({"messages":[],  "model":"m", "temperature":1.0})"),
            Canon(kChat, R"({"model":"m","temperature":1,"messages":[]})"));
}

TEST(NormalizeTest, AliasesOpenAIToolCallIdsConsistently) {
  auto convo = [](const std::string& id1, const std::string& id2, const std::string& answer1) {
    return R"({"model":"m","messages":[{"role":"user","content":"hi"},
      {"role":"assistant","tool_calls":[
        {"id":")" +
           id1 + R"(","type":"function","function":{"name":"f","arguments":"{}"}},
        {"id":")" +
           id2 + R"(","type":"function","function":{"name":"g","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":")" +
           answer1 + R"(","content":"1"}]})";
  };
  const std::string a = Canon(kChat, convo("call_abc", "call_def", "call_abc"));
  EXPECT_EQ(a, Canon(kChat, convo("call_XYZ", "call_QRS", "call_XYZ")));
  EXPECT_NE(a.find("\"call_0\""), std::string::npos);
  // The result answers the *other* call: a different conversation, a different key.
  EXPECT_NE(a, Canon(kChat, convo("call_XYZ", "call_QRS", "call_QRS")));
  NormalizeOptions no_alias;
  no_alias.alias_tool_call_ids = false;
  EXPECT_NE(Canon(kChat, convo("call_abc", "call_def", "call_abc"), no_alias),
            Canon(kChat, convo("call_XYZ", "call_QRS", "call_XYZ"), no_alias));
}

TEST(NormalizeTest, AliasesAnthropicToolUseIdsAndDropsCacheControl) {
  auto convo = [](const std::string& id, bool cache_control) {
    return std::string(R"({"model":"claude","max_tokens":10,"system":[{"type":"text","text":"s")") +
           (cache_control ? R"(,"cache_control":{"type":"ephemeral"})" : "") +
           R"(}],"messages":[{"role":"user","content":"q"},
      {"role":"assistant","content":[{"type":"tool_use","id":")" +
           id +
           R"(","name":"f","input":{}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":")" +
           id + R"(","content":"r"}]}],"metadata":{"user_id":"u"},"stream":true})";
  };
  EXPECT_EQ(Canon(Route::kAnthropicMessages, convo("toolu_01A", true)),
            Canon(Route::kAnthropicMessages, convo("toolu_99Z", false)));
}

TEST(NormalizeTest, AliasesResponsesCallIds) {
  auto req = [](const std::string& call) {
    return R"({"model":"m","input":[{"type":"function_call","id":"fc_)" + call +
           R"(","call_id":")" + call + R"(","name":"f","arguments":"{}"},
      {"type":"function_call_output","call_id":")" +
           call + R"(","output":"1"}],"store":false})";
  };
  EXPECT_EQ(Canon(Route::kResponses, req("call_1")), Canon(Route::kResponses, req("call_2")));
}

TEST(NormalizeTest, KeepsPreviousResponseId) {
  EXPECT_NE(Canon(Route::kResponses, R"({"model":"m","input":"q","previous_response_id":"r1"})"),
            Canon(Route::kResponses, R"({"model":"m","input":"q","previous_response_id":"r2"})"));
}

TEST(NormalizeTest, IgnorePointersWithWildcards) {
  NormalizeOptions o;
  o.ignore_pointers = {"/messages/*/name", "/x~1y"};
  EXPECT_EQ(
      Canon(kChat, R"({"model":"m","x/y":1,"messages":[{"role":"user","name":"a","content":"c"}]})",
            o),
      Canon(kChat, R"({"model":"m","messages":[{"role":"user","name":"b","content":"c"}]})", o));
  o.ignore_pointers = {"no-slash"};
  EXPECT_FALSE(Normalizer::Create(o).ok());
}

TEST(NormalizeTest, StripPatternsRemoveInjectedTimestamps) {
  NormalizeOptions o;
  o.strip_patterns = {R"(^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] )"};
  auto body = [](const std::string& ts) {
    return R"({"model":"m","messages":[{"role":"user","content":")" + ts +
           R"(what is up"},{"role":"user","content":[{"type":"text","text":")" + ts +
           R"(more"}]}]})";
  };
  const std::string a = Canon(kChat, body("[2026-01-01 10:00:00] "), o);
  EXPECT_EQ(a, Canon(kChat, body("[2026-11-22 23:59:59] "), o));
  EXPECT_EQ(a.find("2026"), std::string::npos);
  EXPECT_NE(Canon(kChat, body("[2026-01-01 10:00:00] ")),
            Canon(kChat, body("[2026-11-22 23:59:59] ")));
  o.strip_patterns = {"("};
  auto bad = Normalizer::Create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("does not compile"), std::string::npos);
}

TEST(NormalizeTest, AnswerAffectingHeadersAreKeyed) {
  const char* body = R"({"model":"claude","max_tokens":1,"messages":[]})";
  const std::string v1 =
      Canon(Route::kAnthropicMessages, body, {}, {{"Anthropic-Version", "2023-06-01"}});
  const std::string v2 =
      Canon(Route::kAnthropicMessages, body, {}, {{"anthropic-version", "2024-01-01"}});
  EXPECT_NE(v1, v2);
  EXPECT_EQ(v1, Canon(Route::kAnthropicMessages, body, {},
                      {{"anthropic-version", "2023-06-01"}, {"authorization", "Bearer secret"}}));
  EXPECT_EQ(v1.find("secret"), std::string::npos);
}

TEST(NormalizeTest, ReportsStreamAndUsageFlags) {
  auto n = Normalizer::Create({});
  auto doc =
      json::Parse(R"({"model":"gpt","stream":true,"stream_options":{"include_usage":true}})");
  auto r = (*n)->Normalize(kChat, std::move(*doc), {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->model, "gpt");
}

TEST(NormalizeTest, RejectsNonObjectBodies) {
  auto n = Normalizer::Create({});
  auto r = (*n)->Normalize(kChat, json::Value::MakeArray(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deja
