#include "semantic/quality_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace deja::semantic {
namespace {

using ::testing::HasSubstr;

QualityReason Reason(std::string_view question, std::string_view answer) {
  const QualityVerdict v = AssessForSemanticIndex(question, answer);
  EXPECT_EQ(v.admit, v.reason == QualityReason::kOk);
  EXPECT_EQ(v.detail.empty(), v.admit);
  return v.reason;
}

constexpr std::string_view kPlainQuestion = "How do I reverse a list in Python?";
constexpr std::string_view kPlainAnswer = "Use my_list.reverse() or my_list[::-1].";

TEST(QualityFilterTest, AdmitsAPlainAnswer) {
  EXPECT_EQ(Reason(kPlainQuestion, kPlainAnswer), QualityReason::kOk);
  EXPECT_EQ(Reason("What is the capital of France?", "Paris."), QualityReason::kOk);
}

TEST(QualityFilterTest, Empty) {
  EXPECT_EQ(Reason(kPlainQuestion, ""), QualityReason::kEmpty);
  EXPECT_EQ(Reason(kPlainQuestion, " \n\t "), QualityReason::kEmpty);
}

TEST(QualityFilterTest, Refusals) {
  for (std::string_view answer :
       {"I can't help with that.", "I\xE2\x80\x99m sorry, but I cannot do this.",
        "As an AI, I have no opinions.", "I'm unable to browse the web.",
        "  I CANNOT ASSIST with that request."}) {
    EXPECT_EQ(Reason(kPlainQuestion, answer), QualityReason::kRefusal) << answer;
  }
  const QualityVerdict v = AssessForSemanticIndex(kPlainQuestion, "I can't help with that.");
  EXPECT_EQ(v.detail, "refusal: answer says \"i can't help with\"");
  // Only the opening of the answer is searched for refusals.
  EXPECT_EQ(Reason(kPlainQuestion, std::string(500, 'x') + " I'm sorry, but that is all."),
            QualityReason::kOk);
}

TEST(QualityFilterTest, Errors) {
  for (std::string_view answer : {"Error: upstream failed", "{\"error\": {\"message\": \"bad\"}}",
                                  "Traceback (most recent call last):\n  File \"x.py\"",
                                  "429 Too Many Requests", "Something went wrong. Please retry."}) {
    EXPECT_EQ(Reason(kPlainQuestion, answer), QualityReason::kError) << answer;
  }
  // An answer about errors is not an error.
  EXPECT_EQ(Reason("How does Go handle errors?", "Error handling in Go uses returned values."),
            QualityReason::kOk);
}

TEST(QualityFilterTest, TimeSensitive) {
  for (std::string_view question :
       {"What's the weather in Paris?", "what is the latest iPhone", "Who won the game yesterday?",
        "AAPL stock price", "news about the election", "What should I cook today?",
        "what happened this week", "What is the current price of gold?"}) {
    EXPECT_EQ(Reason(question, "Some answer."), QualityReason::kTimeSensitive) << question;
  }
  EXPECT_EQ(Reason("Who is the CEO of Twitter?", "As of my last update, it is Linda."),
            QualityReason::kTimeSensitive);
  EXPECT_EQ(Reason("Is the API up?", "It is currently operational."),
            QualityReason::kTimeSensitive);
  // Word boundaries: "known" is not "now", "todays" is not "today" either way.
  EXPECT_EQ(Reason("Is this a known bug?", "Yes, it is a known issue."), QualityReason::kOk);
  const QualityVerdict v = AssessForSemanticIndex("What's the weather?", "Sunny.");
  EXPECT_THAT(v.detail, HasSubstr("question says \"weather\""));
}

TEST(QualityFilterTest, SessionBound) {
  EXPECT_EQ(Reason("Where is my order?", "It has shipped."), QualityReason::kSessionBound);
  EXPECT_EQ(Reason("Why was I charged twice?", "Your account shows two payments."),
            QualityReason::kSessionBound);
  EXPECT_EQ(Reason("Can you expand on that?", "As I said above, the loop is the issue."),
            QualityReason::kSessionBound);
  EXPECT_EQ(Reason("In our previous conversation you said X; is that right?", "Yes."),
            QualityReason::kSessionBound);
  // An id in the question makes an order question answerable for anyone asking about that id.
  EXPECT_EQ(Reason("What is the status of my order 12345?", "Your order 12345 has shipped."),
            QualityReason::kOk);
  EXPECT_EQ(Reason("Status of order #A-99123?", "Your order A-99123 has shipped."),
            QualityReason::kOk);
  // ...but not a reference to the conversation.
  EXPECT_EQ(Reason("Order 12345: as I said, is it late?", "It is on time."),
            QualityReason::kSessionBound);
}

TEST(AdmissionScoreTest, Formula) {
  AdmissionSignals s;
  s.frequency = 1;
  s.cost = 500;
  s.max_similarity = 0;
  const AdmissionDecision d = AdmissionScore(s);
  // 0.4 * 1/2 + 0.4 * 500/1000 + 0.2 * 1
  EXPECT_NEAR(d.score, 0.6, 1e-12);
  EXPECT_TRUE(d.admit);
  EXPECT_EQ(d.reason, "admitted");
}

TEST(AdmissionScoreTest, DocumentedExamples) {
  AdmissionSignals s;
  s.cost = 10;
  EXPECT_FALSE(AdmissionScore(s).admit);  // once, cheap: 0.41
  EXPECT_NEAR(AdmissionScore(s).score, 0.4078, 1e-4);
  EXPECT_EQ(AdmissionScore(s).reason, "score below threshold");
  s.frequency = 2;
  EXPECT_TRUE(AdmissionScore(s).admit);  // twice: 0.475
  s.frequency = 1;
  s.cost = 72;
  EXPECT_TRUE(AdmissionScore(s).admit);  // once, 72 tokens
  s.cost = 70;
  EXPECT_FALSE(AdmissionScore(s).admit);
}

TEST(AdmissionScoreTest, QualityAndNearDuplicatesAreRejected) {
  AdmissionSignals s;
  s.frequency = 100;
  s.cost = 10000;
  s.quality_ok = false;
  AdmissionDecision d = AdmissionScore(s);
  EXPECT_FALSE(d.admit);
  EXPECT_EQ(d.score, 0);
  EXPECT_EQ(d.reason, "quality");
  s.quality_ok = true;
  s.max_similarity = 0.96;
  d = AdmissionScore(s);
  EXPECT_FALSE(d.admit);
  EXPECT_EQ(d.reason, "near-duplicate");
  AdmissionOptions lenient;
  lenient.near_duplicate_similarity = 0.99;
  EXPECT_TRUE(AdmissionScore(s, lenient).admit);
}

TEST(AdmissionScoreTest, Monotone) {
  for (double sim : {0.0, 0.3, 0.9}) {
    for (double cost : {0.0, 10.0, 500.0, 1e5}) {
      double prev = -1;
      bool prev_admit = false;
      for (uint64_t f : {1, 2, 3, 10, 1000}) {
        AdmissionSignals s;
        s.frequency = f;
        s.cost = cost;
        s.max_similarity = sim;
        const AdmissionDecision d = AdmissionScore(s);
        EXPECT_GT(d.score, prev) << "frequency " << f;
        EXPECT_TRUE(d.admit || !prev_admit);
        EXPECT_LE(d.score, 1.0);
        prev = d.score;
        prev_admit = d.admit;
      }
    }
  }
  for (uint64_t f : {1, 5}) {
    double prev_cost = -1;
    for (double cost : {0.0, 1.0, 100.0, 1e4, 1e7}) {
      AdmissionSignals s;
      s.frequency = f;
      s.cost = cost;
      const double score = AdmissionScore(s).score;
      EXPECT_GT(score, prev_cost) << "cost " << cost;
      prev_cost = score;
    }
    double prev_sim = 2;
    bool prev_admit = true;
    for (double sim : {0.0, 0.2, 0.5, 0.8, 0.94, 0.95, 1.0}) {
      AdmissionSignals s;
      s.frequency = f;
      s.cost = 300;
      s.max_similarity = sim;
      const AdmissionDecision d = AdmissionScore(s);
      EXPECT_LT(d.score, prev_sim) << "similarity " << sim;
      EXPECT_TRUE(!d.admit || prev_admit);
      prev_sim = d.score;
      prev_admit = d.admit;
    }
  }
}

}  // namespace
}  // namespace deja::semantic
