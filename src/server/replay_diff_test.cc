// Replay diff: rebuilding requests from records, and whole replays against a scripted provider
// behind a real HttpServer on a loopback port.
#include "server/replay_diff.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/json.h"
#include "server/http_server.h"
#include "server/replay_judge.h"
#include "server/stream_convert.h"

namespace deja::server {
namespace {

// Answers chat completions with `answer_for(last user text)` (a fresh id and created each time),
// and judge requests (the rubric marker in the body) with `judge_answer`. Keeps every request.
class ScriptedProvider : public HttpHandler {
 public:
  std::function<std::string(const std::string&)> answer_for = [](const std::string& q) {
    return "answer to " + q;
  };
  std::string judge_answer = R"({"equivalent": true, "reason": "same"})";
  int error_status = 0;  // non-zero: every non-judge request gets this status

  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override {
    int serial;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
      serial = ++serial_;
    }
    const bool judge = request.body.find(kJudgeRubricMarker) != std::string::npos;
    if (!judge && error_status != 0) {
      writer->Send(error_status, {{"Content-Type", "application/json"}},
                   R"j({"error":{"message":"overloaded (req_1)","type":"server_error"}})j");
      return;
    }
    std::string question;
    StatusOr<json::Value> body = json::Parse(request.body);
    if (body.ok()) {
      if (const json::Value* messages = body->Find("messages");
          messages && messages->is_array() && !messages->as_array().empty()) {
        question = std::string(messages->as_array().back().GetString("content"));
      }
    }
    json::Value message = json::Value::MakeObject();
    message.Set("role", json::Value("assistant"));
    message.Set("content", json::Value(judge ? judge_answer : answer_for(question)));
    json::Value choice = json::Value::MakeObject();
    choice.Set("index", json::Value(0));
    choice.Set("message", std::move(message));
    choice.Set("finish_reason", json::Value("stop"));
    json::Value choices = json::Value::MakeArray();
    choices.Push(std::move(choice));
    json::Value answer = json::Value::MakeObject();
    answer.Set("id", json::Value("chatcmpl-" + std::to_string(serial)));
    answer.Set("created", json::Value(1700000000 + serial));
    answer.Set("model", json::Value("fake-2025-01-01"));
    answer.Set("choices", std::move(choices));
    writer->Send(200, {{"Content-Type", "application/json"}}, json::Write(answer));
  }

  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<HttpRequest> requests_;
  int serial_ = 0;
};

std::string ChatBody(const std::string& text, std::string_view id = "chatcmpl-old") {
  return R"({"id":")" + std::string(id) +
         R"(","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":)"
         R"("assistant","content":)" +
         json::Write(json::Value(text)) +
         R"(},"finish_reason":"stop"}],"usage":{"total_tokens":3}})";
}

CassetteRecord ChatRecord(uint8_t key_byte, const std::string& question,
                          const std::string& recorded_answer) {
  CassetteRecord r;
  r.entry.key.bytes.fill(key_byte);
  r.entry.meta.route = "/v1/chat/completions";
  r.entry.meta.model = "gpt-4o-2024-08-06";
  r.entry.canonical_request = R"({"messages":[{"content":)" + json::Write(json::Value(question)) +
                              R"(,"role":"user"}],"model":"gpt-4o","temperature":0})";
  r.entry.response.status = 200;
  r.entry.response.content_type = "application/json";
  r.entry.response.body = ChatBody(recorded_answer);
  return r;
}

class ReplayDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions o;
    o.listen = "127.0.0.1:0";
    o.io_threads = 2;
    auto server = HttpServer::Start(o, &provider_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    options_.upstream = "http://127.0.0.1:" + std::to_string(server_->port());
    options_.openai_api_key = "sk-test";
  }
  void TearDown() override { server_->Stop(1000); }

  ReplayReport Run(const std::vector<CassetteRecord>& records) {
    return RunReplay(records, options_, &client_);
  }

  ScriptedProvider provider_;
  std::unique_ptr<HttpServer> server_;
  UpstreamClient client_;
  ReplayOptions options_;
};

TEST(ReplayRequestTest, OpenAIRecordWithModelOverride) {
  CassetteRecord r = ChatRecord(1, "hi", "hello");
  ReplayOptions o;
  o.upstream = "http://up";
  o.model = "gpt-5";
  o.openai_api_key = "sk-secret";
  StatusOr<UpstreamRequest> req = BuildReplayRequest(r, o);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->base_url, "http://up");
  EXPECT_EQ(req->method, "POST");
  EXPECT_EQ(req->target, "/v1/chat/completions");
  EXPECT_EQ(FindHeader(req->headers, "authorization"), "Bearer sk-secret");
  EXPECT_EQ(FindHeader(req->headers, "x-api-key"), "");
  StatusOr<json::Value> body = json::Parse(req->body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->GetString("model"), "gpt-5");
  EXPECT_EQ(body->Find("stream"), nullptr);
  EXPECT_NE(body->Find("temperature"), nullptr);
}

TEST(ReplayRequestTest, AnthropicRecordHeaders) {
  CassetteRecord r;
  r.entry.meta.route = "/v1/messages";
  r.entry.canonical_request = R"({"max_tokens":10,"messages":[],"model":"claude","stream":true})";
  r.keyed_headers = R"({"anthropic-beta":"tools-2024"})";
  ReplayOptions o;
  o.upstream = "http://openai";
  o.anthropic_upstream = "http://anthropic";
  o.anthropic_api_key = "sk-ant";
  o.openai_api_key = "sk-openai";
  StatusOr<UpstreamRequest> req = BuildReplayRequest(r, o);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->base_url, "http://anthropic");
  EXPECT_EQ(req->target, "/v1/messages");
  EXPECT_EQ(FindHeader(req->headers, "anthropic-version"), kDefaultAnthropicVersion);
  EXPECT_EQ(FindHeader(req->headers, "anthropic-beta"), "tools-2024");
  EXPECT_EQ(FindHeader(req->headers, "x-api-key"), "sk-ant");
  EXPECT_EQ(FindHeader(req->headers, "authorization"), "");
  EXPECT_EQ(req->body.find("stream"), std::string::npos);

  r.keyed_headers = R"({"anthropic-version":"2023-01-01"})";
  o.anthropic_upstream.clear();
  req = BuildReplayRequest(r, o);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->base_url, "http://openai");
  EXPECT_EQ(FindHeader(req->headers, "anthropic-version"), "2023-01-01");
  int versions = 0;
  for (const auto& [name, value] : req->headers) versions += name == "anthropic-version";
  EXPECT_EQ(versions, 1);
}

TEST(ReplayRequestTest, RejectsUnreplayableRecords) {
  CassetteRecord r = ChatRecord(1, "hi", "hello");
  r.entry.meta.route = "/v1/models";
  EXPECT_EQ(BuildReplayRequest(r, {}).status().code(), StatusCode::kInvalidArgument);
  r = ChatRecord(1, "hi", "hello");
  r.entry.canonical_request = "[1]";
  EXPECT_EQ(BuildReplayRequest(r, {}).status().code(), StatusCode::kInvalidArgument);
}

TEST(ReplayModeTest, ParsesNames) {
  for (CompareMode m : {CompareMode::kBytes, CompareMode::kStructured, CompareMode::kEmbedding,
                        CompareMode::kJudge}) {
    StatusOr<CompareMode> parsed = ParseCompareMode(CompareModeName(m));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_FALSE(ParseCompareMode("fuzzy").ok());
}

TEST_F(ReplayDiffTest, StructuredFindsTheChangedRecord) {
  provider_.answer_for = [](const std::string& q) {
    return q == "capital of France?" ? "Lyon." : "answer to " + q;
  };
  std::vector<CassetteRecord> records = {
      ChatRecord(1, "hello", "answer to hello"),
      ChatRecord(2, "capital of France?", "Paris."),
      ChatRecord(3, "2+2?", "answer to 2+2?"),
  };
  ReplayReport report = Run(records);
  ASSERT_EQ(report.records.size(), 3u);
  EXPECT_EQ(report.unchanged, 2u);
  EXPECT_EQ(report.changed, 1u);
  EXPECT_EQ(report.errors, 0u);
  const ReplayRecordResult& changed = report.records[1];
  EXPECT_EQ(changed.key, records[1].entry.key.Hex());
  EXPECT_EQ(changed.status, ReplayStatus::kChanged);
  EXPECT_EQ(changed.route, "/v1/chat/completions");
  EXPECT_EQ(changed.model, "gpt-4o");
  EXPECT_EQ(changed.detail, R"(/0/parts/0/text: "Paris." -> "Lyon.")");
  EXPECT_EQ(report.records[0].status, ReplayStatus::kUnchanged);
  EXPECT_EQ(ReplayExitStatus(report), 1);
  // Every request carried the key and was non-streaming.
  std::vector<HttpRequest> requests = provider_.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const HttpRequest& r : requests) {
    EXPECT_EQ(r.path, "/v1/chat/completions");
    EXPECT_EQ(r.Header("authorization"), "Bearer sk-test");
    EXPECT_EQ(r.body.find("\"stream\""), std::string::npos);
  }
}

TEST_F(ReplayDiffTest, AllUnchangedExitsZeroAndManyInFlight) {
  std::vector<CassetteRecord> records;
  for (int i = 0; i < 20; ++i) {
    records.push_back(ChatRecord(static_cast<uint8_t>(i), "q" + std::to_string(i),
                                 "answer to q" + std::to_string(i)));
  }
  options_.parallel = 6;
  ReplayReport report = Run(records);
  EXPECT_EQ(report.unchanged, 20u);
  EXPECT_EQ(ReplayExitStatus(report), 0);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(report.records[i].key, records[i].entry.key.Hex()) << "cassette order kept";
  }
}

TEST_F(ReplayDiffTest, StreamedRecordingComparesWithTheBodyAnswer) {
  CassetteRecord r = ChatRecord(1, "hello", "answer to hello");
  StatusOr<std::vector<StreamEvent>> events =
      ExplodeBody(Route::kChatCompletions, r.entry.response.body, false);
  ASSERT_TRUE(events.ok());
  r.entry.response.body.clear();
  r.entry.response.streamed = true;
  r.entry.response.content_type = "text/event-stream";
  r.entry.response.events = *events;
  ReplayReport report = Run({r});
  EXPECT_EQ(report.unchanged, 1u) << report.records[0].detail;
}

TEST_F(ReplayDiffTest, BytesComparesTheExactText) {
  provider_.answer_for = [](const std::string&) { return "Paris!"; };
  options_.compare = CompareMode::kBytes;
  ReplayReport report = Run({ChatRecord(1, "q", "Paris."), ChatRecord(2, "q2", "Paris!")});
  EXPECT_EQ(report.records[0].status, ReplayStatus::kChanged);
  EXPECT_EQ(report.records[0].detail, R"(answer text differs at byte 5: "Paris." -> "Paris!")");
  EXPECT_EQ(report.records[1].status, ReplayStatus::kUnchanged);
}

TEST_F(ReplayDiffTest, EmbeddingUsesTheThreshold) {
  provider_.answer_for = [](const std::string& q) { return q == "same" ? "alpha" : "beta"; };
  options_.compare = CompareMode::kEmbedding;
  options_.threshold = 0.9;
  std::mutex mu;
  std::vector<std::string> asked;
  options_.similarity = [&](std::string_view a, std::string_view b) -> StatusOr<double> {
    std::lock_guard lock(mu);
    asked.push_back(std::string(a) + "|" + std::string(b));
    return a == "close" ? 0.95 : 0.5;
  };
  ReplayReport report =
      Run({ChatRecord(1, "same", "alpha"), ChatRecord(2, "x", "close"), ChatRecord(3, "y", "far")});
  ASSERT_EQ(report.records.size(), 3u);
  EXPECT_EQ(report.records[0].status, ReplayStatus::kUnchanged);
  EXPECT_EQ(report.records[0].similarity, 1.0);
  EXPECT_EQ(report.records[1].status, ReplayStatus::kUnchanged);
  EXPECT_EQ(report.records[1].similarity, 0.95);
  EXPECT_EQ(report.records[2].status, ReplayStatus::kChanged);
  EXPECT_EQ(report.records[2].similarity, 0.5);
  EXPECT_EQ(report.records[2].detail.rfind("similarity 0.5000 < threshold 0.9000", 0), 0u)
      << report.records[2].detail;
  EXPECT_EQ(asked.size(), 2u) << "identical texts are not embedded";

  json::Value json = ReportToJson(report, options_);
  EXPECT_EQ(json.Find("threshold")->as_number(), 0.9);
  EXPECT_EQ(json.Find("records")->as_array()[2].Find("similarity")->as_number(), 0.5);
}

TEST_F(ReplayDiffTest, JudgeDecidesAndSeesBothAnswers) {
  provider_.answer_for = [](const std::string&) { return "The capital is Lyon."; };
  provider_.judge_answer =
      "Sure.\n```json\n{\"equivalent\": false, \"reason\": \"different city\"}\n```";
  options_.compare = CompareMode::kJudge;
  options_.judge_model = "judge-1";
  ReplayReport report = Run(
      {ChatRecord(1, "capital of France?", "Paris."), ChatRecord(2, "q", "The capital is Lyon.")});
  EXPECT_EQ(report.records[0].status, ReplayStatus::kChanged);
  EXPECT_EQ(report.records[0].detail, "judge: different city");
  EXPECT_EQ(report.records[1].status, ReplayStatus::kUnchanged) << "identical: no judge needed";
  std::vector<HttpRequest> requests = provider_.requests();
  ASSERT_EQ(requests.size(), 3u);  // two replays, one judge call
  int judged = 0;
  for (const HttpRequest& r : requests) {
    if (r.body.find(kJudgeRubricMarker) == std::string::npos) continue;
    ++judged;
    EXPECT_NE(r.body.find("judge-1"), std::string::npos);
    EXPECT_NE(r.body.find("capital of France?"), std::string::npos);
    EXPECT_NE(r.body.find("<reference_answer>\\nParis.\\n</reference_answer>"), std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("<new_answer>\\nThe capital is Lyon.\\n</new_answer>"),
              std::string::npos);
  }
  EXPECT_EQ(judged, 1);
}

TEST_F(ReplayDiffTest, JudgeDefaultsToTheRecordModelAndUnparsableIsAnError) {
  provider_.answer_for = [](const std::string&) { return "new"; };
  provider_.judge_answer = "I think they are about the same.";
  options_.compare = CompareMode::kJudge;
  ReplayReport report = Run({ChatRecord(1, "q", "old")});
  EXPECT_EQ(report.records[0].status, ReplayStatus::kError);
  EXPECT_NE(report.records[0].detail.find("no {\"equivalent\""), std::string::npos)
      << report.records[0].detail;
  EXPECT_EQ(ReplayExitStatus(report), 2);
  std::vector<HttpRequest> requests = provider_.requests();
  ASSERT_EQ(requests.size(), 2u);
  StatusOr<json::Value> judge_body = json::Parse(requests.back().body);
  ASSERT_TRUE(judge_body.ok());
  EXPECT_EQ(judge_body->GetString("model"), "gpt-4o");
}

TEST_F(ReplayDiffTest, UpstreamErrorsAreErrorsNotChanges) {
  provider_.error_status = 503;
  ReplayReport report = Run({ChatRecord(1, "q", "answer to q")});
  EXPECT_EQ(report.errors, 1u);
  EXPECT_EQ(report.records[0].detail, "upstream answered HTTP 503: overloaded (req_1)");
  EXPECT_EQ(ReplayExitStatus(report), 2);
  EXPECT_NE(ReportSummary(report).find("1 records (structured): 0 unchanged, 0 changed, 1 errors"),
            std::string::npos);
}

TEST_F(ReplayDiffTest, UnreachableUpstreamIsAnError) {
  server_->Stop(1000);
  ReplayReport report = Run({ChatRecord(1, "q", "answer to q")});
  EXPECT_EQ(report.errors, 1u);
  EXPECT_FALSE(report.records[0].detail.empty());
}

TEST(ReplayReportTest, JsonShapeAndExitStatus) {
  ReplayReport report;
  report.cassette = "c.json";
  report.upstream = "http://up";
  report.compare = CompareMode::kStructured;
  ReplayRecordResult r;
  r.key = std::string(64, 'a');
  r.route = "/v1/chat/completions";
  r.model = "m";
  r.status = ReplayStatus::kChanged;
  r.detail = "d";
  report.records = {r};
  report.changed = 1;
  EXPECT_EQ(json::WriteCanonical(ReportToJson(report, {})),
            R"({"cassette":"c.json","changed":1,"compare":"structured","errors":0,"records":[)"
            R"({"detail":"d","key":")" +
                std::string(64, 'a') +
                R"(","model":"m","route":"/v1/chat/completions","status":"changed"}],)"
                R"("total":1,"unchanged":0,"upstream":"http://up"})");
  EXPECT_EQ(ReplayExitStatus(report), 1);
  report.errors = 1;
  EXPECT_EQ(ReplayExitStatus(report), 1) << "a change is reported as a regression";
  report.changed = 0;
  EXPECT_EQ(ReplayExitStatus(report), 2);
  report.errors = 0;
  EXPECT_EQ(ReplayExitStatus(report), 0);
}

}  // namespace
}  // namespace deja::server
