// DiffJson (json_diff.h) and the closest-recording explanation (replay_explain.h).
#include "server/replay_explain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/json_diff.h"

namespace deja::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

json::Value J(std::string_view text) {
  StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::Value();
}

std::vector<std::string> Pointers(const std::vector<JsonDifference>& d) {
  std::vector<std::string> out;
  for (const JsonDifference& x : d) out.push_back(x.pointer);
  return out;
}

CacheKey KeyOf(uint8_t b) {
  CacheKey k;
  k.bytes.fill(b);
  return k;
}

TEST(DiffJson, EqualDocumentsHaveNoDifferences) {
  EXPECT_TRUE(
      DiffJson(J(R"({"a":[1,{"b":null}],"c":"x"})"), J(R"({"c":"x","a":[1,{"b":null}]})")).empty());
}

TEST(DiffJson, NamesEachDifferingLeafWithBothValues) {
  std::vector<JsonDifference> d =
      DiffJson(J(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"seed":1})"),
               J(R"({"model":"m","messages":[{"role":"user","content":"hello"}],"top_p":0.5})"));
  EXPECT_THAT(Pointers(d), ElementsAre("/messages/0/content", "/seed", "/top_p"));
  EXPECT_EQ(d[0].left, R"("hi")");
  EXPECT_EQ(d[0].right, R"("hello")");
  EXPECT_EQ(d[1].right, "(absent)");
  EXPECT_EQ(d[2].left, "(absent)");
  EXPECT_EQ(d[2].right, "0.5");
  EXPECT_EQ(DiffDistance(d), 3u);
}

TEST(DiffJson, MissingSubtreesWeighTheirLeavesAndArraysCompareByIndex) {
  std::vector<JsonDifference> d = DiffJson(J(R"({"a":[1,2]})"), J(R"({"a":[1,2,{"x":1,"y":2}]})"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].pointer, "/a/2");
  EXPECT_EQ(d[0].weight, 2u);
  // A type change is one difference at the containing pointer.
  d = DiffJson(J(R"({"a":"text"})"), J(R"({"a":[{"type":"text","text":"t"}]})"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].pointer, "/a");
  EXPECT_EQ(d[0].weight, 2u);
  // Whole-document difference of scalars.
  d = DiffJson(J("1"), J("2"));
  EXPECT_THAT(Pointers(d), ElementsAre(""));
}

TEST(DiffJson, PointerTokensAreEscaped) {
  std::vector<JsonDifference> d = DiffJson(J(R"({"a/b":1,"c~d":1})"), J(R"({"a/b":2,"c~d":2})"));
  EXPECT_THAT(Pointers(d), ElementsAre("/a~1b", "/c~0d"));
}

TEST(DiffJson, LongValuesAreTruncatedAtACharacterBoundary) {
  const std::string long_text(200, 'x');
  std::vector<JsonDifference> d =
      DiffJson(J(R"({"a":")" + long_text + R"("})"), J(R"({"a":"short"})"), 20);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].left, "\"" + std::string(19, 'x') + "\xe2\x80\xa6");
  // "é" is two bytes: a cut inside it backs up to the character before.
  EXPECT_EQ(AbbreviateJson(J(R"("aé")"), 3), "\"a\xe2\x80\xa6");
}

TEST(ClosestRecording, PicksTheRecordingWithFewestDifferences) {
  const json::Value request =
      J(R"({"model":"gpt","messages":[{"role":"user","content":"hello"}],"temperature":0})");
  ClosestRecording closest("", "", request);
  closest.Offer(KeyOf(1), "", "", R"({"messages":[{"content":"bye","role":"user"}],"model":"x"})",
                false);
  closest.Offer(KeyOf(2), "", "",
                R"({"messages":[{"content":"hi","role":"user"}],"model":"gpt","temperature":0})",
                false);
  closest.Offer(KeyOf(3), "", "", "not json", false);  // skipped
  MissExplanation why = closest.Explain(KeyOf(9), "/v1/chat/completions");
  EXPECT_EQ(why.recorded_on_route, 2u);
  ASSERT_TRUE(why.has_closest);
  EXPECT_EQ(why.closest_key_hex, KeyOf(2).Hex());
  EXPECT_THAT(Pointers(why.differences), ElementsAre("/messages/0/content"));

  const std::string message = ExplanationMessage(why);
  EXPECT_THAT(message, HasSubstr(KeyOf(9).Hex()));
  EXPECT_THAT(message, HasSubstr(KeyOf(2).Hex()));
  EXPECT_THAT(message, HasSubstr(R"(/messages/0/content: recorded "hi", this request "hello")"));
  EXPECT_THAT(message, HasSubstr("1 field:"));

  json::Value detail = ExplanationJson(why);
  const json::Value* diffs = detail.Find("closest")->Find("differences");
  ASSERT_NE(diffs, nullptr);
  ASSERT_EQ(diffs->as_array().size(), 1u);
  EXPECT_EQ(diffs->as_array()[0].GetString("pointer"), "/messages/0/content");
  EXPECT_EQ(diffs->as_array()[0].GetString("recorded"), R"("hi")");
}

TEST(ClosestRecording, ReportsNamespaceAndHeaderDifferences) {
  const json::Value request = J(R"({"model":"claude","max_tokens":5})");
  ClosestRecording closest("ns-b", R"({"anthropic-version":"2023-06-01"})", request);
  closest.Offer(KeyOf(1), "ns-a", R"({"anthropic-version":"2023-01-01"})",
                R"({"max_tokens":5,"model":"claude"})", false);
  MissExplanation why = closest.Explain(KeyOf(9), "/v1/messages");
  EXPECT_THAT(Pointers(why.differences), ElementsAre("namespace", "header anthropic-version"));
  EXPECT_EQ(why.differences[0].left, R"("ns-a")");
  EXPECT_EQ(why.differences[1].right, R"("2023-06-01")");
}

TEST(ClosestRecording, ExplainsIdenticalAndMissingRecordings) {
  const json::Value request = J(R"({"model":"m"})");
  ClosestRecording none("", "", request);
  MissExplanation why = none.Explain(KeyOf(9), "/v1/embeddings");
  EXPECT_FALSE(why.has_closest);
  EXPECT_THAT(ExplanationMessage(why), HasSubstr("No request on /v1/embeddings is recorded"));
  EXPECT_TRUE(ExplanationJson(why).Find("closest")->is_null());

  ClosestRecording same("", "", request);
  same.Offer(KeyOf(1), "", "", R"({"model":"m"})", true);
  why = same.Explain(KeyOf(9), "/v1/embeddings");
  EXPECT_TRUE(why.differences.empty());
  EXPECT_THAT(ExplanationMessage(why), HasSubstr("expired"));
}

TEST(ClosestRecording, ListsABoundedNumberOfDifferences) {
  std::string recorded = "{", asked = "{";
  for (int i = 0; i < 12; ++i) {
    recorded += (i ? "," : "") + std::string("\"f") + std::to_string(10 + i) + "\":1";
    asked += (i ? "," : "") + std::string("\"f") + std::to_string(10 + i) + "\":2";
  }
  recorded += "}";
  asked += "}";
  const json::Value request = J(asked);
  ClosestRecording closest("", "", request);
  closest.Offer(KeyOf(1), "", "", recorded, false);
  MissExplanation why = closest.Explain(KeyOf(9), "/v1/chat/completions");
  const std::string message = ExplanationMessage(why, 8);
  EXPECT_THAT(message, HasSubstr("/f17:"));
  EXPECT_THAT(message, Not(HasSubstr("/f18:")));
  EXPECT_THAT(message, HasSubstr("and 4 more"));
  EXPECT_EQ(ExplanationJson(why, 5).Find("closest")->Find("more")->as_number(), 7);
}

}  // namespace
}  // namespace deja::server
