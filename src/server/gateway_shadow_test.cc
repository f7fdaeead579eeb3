// Shadow mode through the real gateway: every request reaches the provider, the client gets the
// provider's answer, and GET /deja/shadow reports would-be hits, false hits and savings.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/gateway.h"
#include "server/gateway_test_util.h"
#include "server/shadow_report.h"

namespace deja::server {
namespace {

using testing::ClientResponse;
using ::testing::HasSubstr;
using testing::kChat;
using testing::kChatStream;

constexpr char kVarying[] =
    R"({"model":"varying","temperature":0,"messages":[{"role":"user","content":"hi"}]})";

class GatewayShadowTest : public testing::GatewayFixture {
 protected:
  void StartShadow() {
    GatewayOptions o;
    o.server.mode = "shadow";
    o.prices["gpt-test"] = ModelPrice{1000000, 2000000};  // $1 per input token, $2 per output
    Start(o);
  }
  json::Value Report() {
    ClientResponse r = testing::Call(client_, server_->port(), "GET", "/deja/shadow", "");
    EXPECT_EQ(r.code, 200) << r.body;
    StatusOr<json::Value> v = json::Parse(r.body);
    EXPECT_TRUE(v.ok()) << r.body;
    return v.ok() ? std::move(*v) : json::Value();
  }
  static double Num(const json::Value& v, std::string_view a, std::string_view b = {}) {
    const json::Value* x = v.Find(a);
    if (x != nullptr && !b.empty()) x = x->Find(b);
    return x != nullptr && x->is_number() ? x->as_number() : -1;
  }
};

TEST_F(GatewayShadowTest, EveryRequestGoesUpstreamAndRepeatsCountAsWouldBeHits) {
  StartShadow();
  ClientResponse a = Chat();
  ClientResponse b = Chat();
  ClientResponse c = Chat();
  EXPECT_EQ(provider_.calls(), 3);
  // The client sees the provider's own answers (fresh ids), never a stored one.
  EXPECT_THAT(a.body, HasSubstr("chatcmpl-0"));
  EXPECT_THAT(b.body, HasSubstr("chatcmpl-1"));
  EXPECT_THAT(c.body, HasSubstr("chatcmpl-2"));
  EXPECT_EQ(a.Header("X-Deja-Cache"), "shadow-miss");
  EXPECT_EQ(b.Header("X-Deja-Cache"), "shadow-hit");

  json::Value report = Report();
  EXPECT_EQ(Num(report, "requests"), 3);
  EXPECT_EQ(Num(report, "would_be_hits", "exact"), 2);
  EXPECT_EQ(Num(report, "would_be_hits", "semantic"), 0);
  EXPECT_EQ(Num(report, "false_hits", "exact"), 0);
  // Two equivalent hits of 5 input and 7 output tokens each, at $1 and $2 per token.
  EXPECT_EQ(Num(report, "savings", "requests"), 2);
  EXPECT_EQ(Num(report, "savings", "input_tokens"), 10);
  EXPECT_EQ(Num(report, "savings", "output_tokens"), 14);
  EXPECT_DOUBLE_EQ(Num(report, "savings", "dollars"), 10 * 1 + 14 * 2);
  // kChat sets no temperature: all three are nondeterministic requests.
  EXPECT_EQ(Num(report, "nondeterministic", "requests"), 3);
  EXPECT_EQ(Num(report, "deterministic", "requests"), 0);
  ASSERT_NE(report.Find("caveats"), nullptr);
  EXPECT_GE(report.Find("caveats")->as_array().size(), 2u);
}

TEST_F(GatewayShadowTest, AChangedAnswerIsAFalseHitAndSavesNothing) {
  StartShadow();
  ClientResponse a = Chat(kVarying);
  ClientResponse b = Chat(kVarying);
  EXPECT_THAT(a.body, HasSubstr("#0"));
  EXPECT_THAT(b.body, HasSubstr("#1"));  // the client got the fresh answer
  json::Value report = Report();
  EXPECT_EQ(Num(report, "would_be_hits", "exact"), 1);
  EXPECT_EQ(Num(report, "false_hits", "exact"), 1);
  EXPECT_EQ(Num(report, "false_hit_rate", "exact"), 1);
  EXPECT_EQ(Num(report, "savings", "requests"), 0);
  EXPECT_EQ(Num(report, "deterministic", "requests"), 2);
  const json::Value* det = report.Find("deterministic");
  ASSERT_NE(det, nullptr);
  EXPECT_EQ(Num(*det, "false_hits", "exact"), 1);
  // The first answer stays stored: a would-be hit does not replace the entry live mode would serve.
  ClientResponse c = Chat(kVarying);
  EXPECT_THAT(c.body, HasSubstr("#2"));
  EXPECT_EQ(Num(Report(), "false_hits", "exact"), 2);
}

TEST_F(GatewayShadowTest, StreamsPassThroughAndCompareWithStoredBodies) {
  StartShadow();
  ClientResponse a = Chat(kChat);
  ClientResponse b = Chat(kChatStream);
  EXPECT_EQ(provider_.calls(), 2);
  EXPECT_THAT(b.Header("Content-Type"), HasSubstr("text/event-stream"));
  EXPECT_THAT(b.body, HasSubstr("chatcmpl-1"));
  EXPECT_THAT(b.body, HasSubstr("[DONE]"));
  // Stream and body carry the same answer: an equivalent would-be hit.
  json::Value report = Report();
  EXPECT_EQ(Num(report, "would_be_hits", "exact"), 1);
  EXPECT_EQ(Num(report, "false_hits", "exact"), 0);
  EXPECT_EQ(Num(report, "savings", "requests"), 1);
}

TEST_F(GatewayShadowTest, BypassedAndFailedRequestsAreCountedButNeverHits) {
  StartShadow();
  Chat(kChat, {{"X-Deja-Cache", "off"}});
  Chat(kChat, {{"X-Deja-Cache", "off"}});
  ClientResponse e = Chat(R"({"model":"error","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(e.code, 500);
  json::Value report = Report();
  EXPECT_EQ(Num(report, "requests"), 3);
  EXPECT_EQ(Num(report, "would_be_hits", "exact"), 0);
}

TEST_F(GatewayShadowTest, ReportIsNotFoundOutsideShadowMode) {
  Start();
  ClientResponse r = testing::Call(client_, server_->port(), "GET", "/deja/shadow", "");
  EXPECT_EQ(r.code, 404);
  EXPECT_THAT(r.body, HasSubstr("--mode shadow"));
}

TEST(ShadowReportTest, WritesTheReportAndReplacesTheLastOne) {
  ShadowReport report({});
  ShadowObservation o;
  o.model = "m";
  o.would_be = ShadowTier::kExact;
  o.comparable = o.equivalent = true;
  o.output_tokens = 3;
  report.Record(o);
  const std::string path = ::testing::TempDir() + "/shadow-report-test.json";
  ASSERT_TRUE(WriteShadowReport(report, path).ok());
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  StatusOr<json::Value> v = json::Parse(text.str());
  ASSERT_TRUE(v.ok()) << text.str();
  EXPECT_EQ(v->Find("would_be_hits")->Find("exact")->as_number(), 1);
  EXPECT_EQ(v->Find("savings")->Find("output_tokens")->as_number(), 3);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  report.Record(o);
  ASSERT_TRUE(WriteShadowReport(report, path).ok());  // the periodic write replaces the file
  std::ifstream again(path);
  std::ostringstream text2;
  text2 << again.rdbuf();
  StatusOr<json::Value> v2 = json::Parse(text2.str());
  ASSERT_TRUE(v2.ok()) << text2.str();
  EXPECT_EQ(v2->Find("would_be_hits")->Find("exact")->as_number(), 2);
  EXPECT_FALSE(WriteShadowReport(report, "/nonexistent-dir/x.json").ok());
}

}  // namespace
}  // namespace deja::server
