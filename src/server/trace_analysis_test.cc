#include "server/trace_analysis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace deja::server {
namespace {

using ::testing::HasSubstr;

std::string Line(std::string_view question, std::string_view answer, std::string_view extra = "") {
  return std::string(
             R"({"request":{"model":"m","temperature":0,"messages":[{"role":"user","content":")") +
         std::string(question) +
         R"("}]},"response":{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":")" +
         std::string(answer) +
         R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4}})" +
         std::string(extra) + "}";
}

double At(const json::Value& v, std::string_view a, std::string_view b) {
  return v.Find(a)->Find(b)->as_number();
}

TEST(TraceAnalyzerTest, RepeatsAreWouldBeHitsComparedByAnswer) {
  auto analyzer = TraceAnalyzer::Create(GatewayOptions{});
  ASSERT_TRUE(analyzer.ok());
  TraceAnalyzer& a = **analyzer;
  ASSERT_TRUE(a.AddLine(Line("q1", "a1")).ok());
  ASSERT_TRUE(a.AddLine(Line("q1", "a1", R"(,"latency_ms":5)")).ok());
  ASSERT_TRUE(a.AddLine(Line("q1", "different")).ok());
  ASSERT_TRUE(a.AddLine(Line("q1", "a1", R"(,"tenant":"b")")).ok());     // another scope
  ASSERT_TRUE(a.AddLine(Line("q1", "a1", R"(,"namespace":"n")")).ok());  // another namespace
  json::Value r = a.report().ToJson();
  EXPECT_EQ(r.Find("requests")->as_number(), 5);
  EXPECT_EQ(At(r, "would_be_hits", "exact"), 2);
  EXPECT_EQ(At(r, "false_hits", "exact"), 1);
  EXPECT_EQ(At(r, "savings", "input_tokens"), 3);
  EXPECT_EQ(At(r, "savings", "upstream_latency_ms"), 5);
}

TEST(TraceAnalyzerTest, PolicyAndErrorsFollowTheConfig) {
  GatewayOptions o;
  o.cache.cache_nonzero_temperature = false;
  auto analyzer = TraceAnalyzer::Create(o);
  ASSERT_TRUE(analyzer.ok());
  TraceAnalyzer& a = **analyzer;
  const std::string hot =
      R"({"request":{"model":"m","temperature":1,"messages":[]},"response":{"object":"chat.completion","choices":[]}})";
  ASSERT_TRUE(a.AddLine(hot).ok());
  ASSERT_TRUE(a.AddLine(hot).ok());
  EXPECT_EQ(At(a.report().ToJson(), "would_be_hits", "exact"), 0);  // bypassed, as live would
  // A failed answer is never stored, so its repeat is no hit.
  ASSERT_TRUE(a.AddLine(Line("q2", "a", R"(,"status":500)")).ok());
  ASSERT_TRUE(a.AddLine(Line("q2", "a")).ok());
  EXPECT_EQ(At(a.report().ToJson(), "would_be_hits", "exact"), 0);

  EXPECT_THAT(a.AddLine("[1]").message(), HasSubstr("JSON object"));
  EXPECT_THAT(a.AddLine(R"({"request":{}})").message(), HasSubstr("response"));
  EXPECT_THAT(a.AddLine(R"({"request":{},"response":{"object":"odd"}})").message(),
              HasSubstr("route"));
  EXPECT_THAT(a.AddLine(R"({"request":{},"response":{},"route":"/v1/models"})").message(),
              HasSubstr("not a route"));
  EXPECT_FALSE(a.AddLine("{nope").ok());
  EXPECT_EQ(a.report().requests(), 4);  // rejected lines leave the report alone
}

}  // namespace
}  // namespace deja::server
