// The judge of `deja replay --compare judge`: the prompt it is sent and how its verdict is read.
#include "server/replay_judge.h"

#include <gtest/gtest.h>

#include <string>

namespace deja::server {
namespace {

TEST(JudgeVerdictTest, ReadsPlainJson) {
  StatusOr<JudgeVerdict> v = ParseJudgeVerdict(R"( {"equivalent": true, "reason": "same facts"} )");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->equivalent);
  EXPECT_EQ(v->reason, "same facts");
}

TEST(JudgeVerdictTest, ReadsFencedAndChattyAnswers) {
  StatusOr<JudgeVerdict> v = ParseJudgeVerdict(
      "Let me compare {them}.\n```json\n{\"reason\": \"a } in a string\", \"equivalent\": false, "
      "\"extra\": {\"nested\": 1}}\n```\nDone.");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_FALSE(v->equivalent);
  EXPECT_EQ(v->reason, "a } in a string");
}

TEST(JudgeVerdictTest, AcceptsStringBooleansAndNoReason) {
  StatusOr<JudgeVerdict> yes = ParseJudgeVerdict(R"({"equivalent": "Yes"})");
  ASSERT_TRUE(yes.ok());
  EXPECT_TRUE(yes->equivalent);
  EXPECT_EQ(yes->reason, "");
  StatusOr<JudgeVerdict> no = ParseJudgeVerdict(R"({"equivalent": "FALSE", "reason": 3})");
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no->equivalent);
  EXPECT_EQ(no->reason, "3");
}

TEST(JudgeVerdictTest, RejectsAnswersWithoutAVerdict) {
  for (const char* text :
       {"", "they are equivalent", R"({"equal": true})", R"({"equivalent": "maybe"})",
        R"({"equivalent": 1})", R"({"equivalent": true)"}) {
    SCOPED_TRACE(text);
    StatusOr<JudgeVerdict> v = ParseJudgeVerdict(text);
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(JudgeVerdictTest, SkipsObjectsWithoutTheVerdict) {
  StatusOr<JudgeVerdict> v =
      ParseJudgeVerdict(R"(Inputs: {"a": 1}. Verdict: {"equivalent": true, "reason": "ok"})");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->equivalent);
}

TEST(QuestionTextTest, ChatMessagesAsTurns) {
  EXPECT_EQ(
      QuestionText(Route::kChatCompletions,
                   R"({"messages":[{"role":"system","content":"Be brief."},)"
                   R"({"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]},)"
                   R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_0",)"
                   R"("function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},)"
                   R"({"role":"tool","tool_call_id":"call_0","content":"21C"}],"model":"m"})"),
      "system: Be brief.\nuser: Weather in Paris?\n"
      "assistant: get_weather({\"city\":\"Paris\"})\ntool: 21C");
}

TEST(QuestionTextTest, AnthropicResponsesCompletionsAndFallback) {
  EXPECT_EQ(QuestionText(Route::kAnthropicMessages,
                         R"({"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]})"),
            "system: Be brief.\nuser: Hi");
  EXPECT_EQ(QuestionText(Route::kResponses, R"({"instructions":"Be kind.","input":"Hello"})"),
            "system: Be kind.\nuser: Hello");
  EXPECT_EQ(
      QuestionText(Route::kResponses,
                   R"({"input":[{"role":"user","content":[{"type":"input_text","text":"A"}]}]})"),
      "user: A");
  EXPECT_EQ(QuestionText(Route::kCompletions, R"({"prompt":"Say this is a test"})"),
            "prompt: Say this is a test");
  EXPECT_EQ(QuestionText(Route::kChatCompletions, R"({"model":"m"})"), R"({"model":"m"})");
  EXPECT_EQ(QuestionText(Route::kChatCompletions, "not json"), "not json");
}

TEST(JudgeRequestTest, CarriesRubricQuestionAndAnswers) {
  json::Value body = JudgeRequestBody("judge-m", "user: q", "old", "new");
  EXPECT_EQ(body.GetString("model"), "judge-m");
  EXPECT_EQ(body.Find("temperature")->as_number(), 0);
  const json::Array& messages = body.Find("messages")->as_array();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].GetString("role"), "system");
  EXPECT_NE(messages[0].GetString("content").find(kJudgeRubricMarker), std::string_view::npos);
  EXPECT_NE(messages[0].GetString("content").find("\"equivalent\""), std::string_view::npos);
  EXPECT_EQ(messages[1].GetString("content"),
            "<question>\nuser: q\n</question>\n<reference_answer>\nold\n</reference_answer>\n"
            "<new_answer>\nnew\n</new_answer>");
}

TEST(JudgeRequestTest, TruncatesLongPartsOnUtf8Boundaries) {
  // "é" is two bytes: a cut at an odd byte count must back off to a whole character.
  std::string long_answer = "a";  // shifts every "é" to start at an odd byte
  for (size_t i = 0; i < kJudgeMaxPartBytes; ++i) long_answer += "é";
  json::Value body = JudgeRequestBody("m", "q", long_answer, "x");
  const std::string& user = body.Find("messages")->as_array()[1].Find("content")->as_string();
  EXPECT_LT(user.size(), kJudgeMaxPartBytes + 200);
  EXPECT_NE(user.find("…[truncated]"), std::string::npos);
  EXPECT_TRUE(json::Parse(json::Write(body)).ok()) << "still valid UTF-8";
}

}  // namespace
}  // namespace deja::server
