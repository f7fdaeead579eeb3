#include "server/replay_diff.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>

#include "core/route.h"
#include "server/answer_compare.h"
#include "server/json_diff.h"
#include "server/replay_judge.h"
#include "server/sse.h"

namespace deja::server {
namespace {

using json::Value;

bool Is2xx(int status) { return status >= 200 && status <= 299; }

// A short, single-line excerpt of `text` around byte `at` (UTF-8 safe at both ends).
std::string Excerpt(std::string_view text, size_t at, size_t width = 40) {
  size_t begin = at > width / 2 ? at - width / 2 : 0;
  size_t end = std::min(text.size(), begin + width);
  while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
  while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
  std::string out;
  json::AppendQuoted(text.substr(begin, end - begin), &out);
  if (begin > 0) out.insert(1, "…");
  if (end < text.size()) out.insert(out.size() - 1, "…");
  return out;
}

// Where two texts first differ, for people.
std::string TextDifference(std::string_view a, std::string_view b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return "answer text differs at byte " + std::to_string(i) + ": " + Excerpt(a, i) + " -> " +
         Excerpt(b, i);
}

std::string RequestModel(const CassetteRecord& record) {
  StatusOr<Value> request = json::Parse(record.entry.canonical_request);
  if (request.ok()) {
    std::string_view model = request->GetString("model");
    if (!model.empty()) return std::string(model);
  }
  return record.entry.meta.model;
}

// The error message of a provider error body, else the body's start.
std::string ErrorExcerpt(const CachedResponse& answer) {
  std::string_view body = answer.body;
  StatusOr<Value> parsed = json::Parse(body);
  if (parsed.ok()) {
    const Value* error = parsed->Find("error");
    if (error != nullptr && error->is_object()) {
      std::string_view message = error->GetString("message");
      if (!message.empty()) return std::string(message.substr(0, 200));
    }
  }
  return std::string(body.substr(0, 200));
}

// The detail of a changed structured answer: its first difference.
std::string StructuredDifference(const std::string& a, const std::string& b) {
  StatusOr<Value> va = json::Parse(a);
  StatusOr<Value> vb = json::Parse(b);
  std::vector<JsonDifference> diffs;
  if (va.ok() && vb.ok()) diffs = DiffJson(*va, *vb);
  if (diffs.empty()) return "structured answers differ";
  std::string detail = (diffs[0].pointer.empty() ? "/" : diffs[0].pointer) + ": " + diffs[0].left +
                       " -> " + diffs[0].right;
  if (diffs.size() > 1) detail += " (and " + std::to_string(diffs.size() - 1) + " more)";
  return detail;
}

void CompareJudged(const CassetteRecord& record, Route route, const std::string& old_text,
                   const std::string& new_text, const ReplayOptions& options,
                   UpstreamClient* client, ReplayRecordResult* result) {
  const std::string judge_model =
      options.judge_model.empty() ? RequestModel(record) : options.judge_model;
  UpstreamRequest request;
  request.base_url = options.upstream;
  request.method = "POST";
  request.target = std::string(RoutePath(Route::kChatCompletions));
  request.headers.emplace_back("Content-Type", "application/json");
  if (!options.openai_api_key.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + options.openai_api_key);
  }
  request.body = json::Write(JudgeRequestBody(
      judge_model, QuestionText(route, record.entry.canonical_request), old_text, new_text));
  StatusOr<CachedResponse> answer = FetchAnswer(client, request);
  result->status = ReplayStatus::kError;
  if (!answer.ok()) {
    result->detail = "judge: " + answer.status().message();
    return;
  }
  if (!Is2xx(answer->status)) {
    result->detail = "judge: upstream answered HTTP " + std::to_string(answer->status) + ": " +
                     ErrorExcerpt(*answer);
    return;
  }
  StatusOr<std::string> text = AnswerText(Route::kChatCompletions, *answer);
  if (!text.ok()) {
    result->detail = "judge: " + text.status().message();
    return;
  }
  StatusOr<JudgeVerdict> verdict = ParseJudgeVerdict(*text);
  if (!verdict.ok()) {
    result->detail = verdict.status().message();
    return;
  }
  result->status = verdict->equivalent ? ReplayStatus::kUnchanged : ReplayStatus::kChanged;
  result->detail = "judge: " + verdict->reason;
}

void ReplayOne(const CassetteRecord& record, const ReplayOptions& options, UpstreamClient* client,
               ReplayRecordResult* result) {
  result->key = record.entry.key.Hex();
  result->route = record.entry.meta.route;
  result->model = options.model.empty() ? RequestModel(record) : options.model;
  result->status = ReplayStatus::kError;
  StatusOr<UpstreamRequest> request = BuildReplayRequest(record, options);
  if (!request.ok()) {
    result->detail = request.status().message();
    return;
  }
  StatusOr<CachedResponse> fresh = FetchAnswer(client, *request);
  if (!fresh.ok()) {
    result->detail = fresh.status().message();
    return;
  }
  if (!Is2xx(fresh->status) && Is2xx(record.entry.response.status)) {
    result->detail =
        "upstream answered HTTP " + std::to_string(fresh->status) + ": " + ErrorExcerpt(*fresh);
    return;
  }
  CompareAnswers(record, *fresh, options, client, result);
}

}  // namespace

StatusOr<CompareMode> ParseCompareMode(std::string_view name) {
  if (name == "bytes") return CompareMode::kBytes;
  if (name == "structured") return CompareMode::kStructured;
  if (name == "embedding") return CompareMode::kEmbedding;
  if (name == "judge") return CompareMode::kJudge;
  return InvalidArgumentError("unknown comparison \"" + std::string(name) +
                              "\" (bytes, structured, embedding or judge)");
}

std::string_view CompareModeName(CompareMode mode) {
  switch (mode) {
    case CompareMode::kBytes:
      return "bytes";
    case CompareMode::kStructured:
      return "structured";
    case CompareMode::kEmbedding:
      return "embedding";
    case CompareMode::kJudge:
      return "judge";
  }
  return "structured";
}

std::string_view ReplayStatusName(ReplayStatus status) {
  switch (status) {
    case ReplayStatus::kUnchanged:
      return "unchanged";
    case ReplayStatus::kChanged:
      return "changed";
    case ReplayStatus::kError:
      return "error";
  }
  return "error";
}

StatusOr<UpstreamRequest> BuildReplayRequest(const CassetteRecord& record,
                                             const ReplayOptions& options) {
  const Route route = RouteFromPath(record.entry.meta.route);
  if (route == Route::kOther) {
    return InvalidArgumentError("route \"" + record.entry.meta.route + "\" cannot be replayed");
  }
  StatusOr<Value> body = json::Parse(record.entry.canonical_request);
  if (!body.ok() || !body->is_object()) {
    return InvalidArgumentError("the recorded request is not a JSON object");
  }
  body->Erase("stream");
  body->Erase("stream_options");
  if (!options.model.empty()) body->Set("model", Value(options.model));
  const bool anthropic = RouteProvider(route) == Provider::kAnthropic;
  UpstreamRequest request;
  request.base_url = anthropic && !options.anthropic_upstream.empty() ? options.anthropic_upstream
                                                                      : options.upstream;
  request.method = "POST";
  request.target = std::string(RoutePath(route));
  request.body = json::Write(*body);
  request.headers.emplace_back("Content-Type", "application/json");
  if (!record.keyed_headers.empty()) {
    StatusOr<Value> keyed = json::Parse(record.keyed_headers);
    if (!keyed.ok() || !keyed->is_object()) {
      return InvalidArgumentError("the record's keyed headers are not a JSON object");
    }
    for (const auto& [name, value] : keyed->as_object()) {
      if (value.is_string()) request.headers.emplace_back(name, value.as_string());
    }
  }
  if (anthropic) {
    if (FindHeader(request.headers, "anthropic-version").empty()) {
      request.headers.emplace_back("anthropic-version", std::string(kDefaultAnthropicVersion));
    }
    if (!options.anthropic_api_key.empty()) {
      request.headers.emplace_back("x-api-key", options.anthropic_api_key);
    }
  } else if (!options.openai_api_key.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + options.openai_api_key);
  }
  return request;
}

StatusOr<CachedResponse> FetchAnswer(UpstreamClient* client, const UpstreamRequest& request) {
  CachedResponse answer;
  std::string body;
  Status sent = client->Send(
      request,
      [&](const UpstreamResponseHead& head) {
        answer.status = head.status;
        answer.content_type = std::string(FindHeader(head.headers, "content-type"));
        return true;
      },
      [&](std::string_view chunk) {
        body.append(chunk);
        return true;
      });
  if (!sent.ok()) return sent;
  if (answer.content_type.rfind("text/event-stream", 0) == 0) {
    SseParser parser;
    parser.Feed(body, &answer.events);
    answer.streamed = true;
  } else {
    answer.body = std::move(body);
  }
  return answer;
}

void CompareAnswers(const CassetteRecord& record, const CachedResponse& fresh,
                    const ReplayOptions& options, UpstreamClient* client,
                    ReplayRecordResult* result) {
  const Route route = RouteFromPath(record.entry.meta.route);
  AnswerMatch match = AnswerMatch::kExactText;  // bytes; judge compares the texts first
  if (options.compare == CompareMode::kStructured) match = AnswerMatch::kStructured;
  if (options.compare == CompareMode::kEmbedding) match = AnswerMatch::kEmbedding;
  StatusOr<AnswerComparison> same =
      SameAnswer(route, match, record.entry.response, fresh, options.similarity, options.threshold);
  result->status = ReplayStatus::kError;
  if (!same.ok()) {
    result->detail = same.status().message();
    return;
  }
  result->similarity = same->similarity;
  if (same->same) {
    result->status = ReplayStatus::kUnchanged;
    return;
  }
  const std::string& old_form = same->recorded_form;
  const std::string& new_form = same->fresh_form;
  switch (options.compare) {
    case CompareMode::kStructured:
      result->status = ReplayStatus::kChanged;
      result->detail = StructuredDifference(old_form, new_form);
      return;
    case CompareMode::kBytes:
      result->status = ReplayStatus::kChanged;
      result->detail = TextDifference(old_form, new_form);
      return;
    case CompareMode::kEmbedding: {
      result->status = ReplayStatus::kChanged;
      char buf[96];
      std::snprintf(buf, sizeof(buf), "similarity %.4f < threshold %.4f; ", *same->similarity,
                    options.threshold);
      result->detail = buf + TextDifference(old_form, new_form);
      return;
    }
    case CompareMode::kJudge:
      CompareJudged(record, route, old_form, new_form, options, client, result);
      return;
  }
}

ReplayReport RunReplay(const std::vector<CassetteRecord>& records, const ReplayOptions& options,
                       UpstreamClient* client) {
  ReplayReport report;
  report.upstream = options.upstream;
  report.compare = options.compare;
  report.records.resize(records.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < records.size(); i = next++) {
      ReplayOne(records[i], options, client, &report.records[i]);
    }
  };
  const size_t threads =
      std::min<size_t>(records.size(), static_cast<size_t>(std::clamp(options.parallel, 1, 64)));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  for (const ReplayRecordResult& r : report.records) {
    if (r.status == ReplayStatus::kUnchanged) ++report.unchanged;
    if (r.status == ReplayStatus::kChanged) ++report.changed;
    if (r.status == ReplayStatus::kError) ++report.errors;
  }
  return report;
}

json::Value ReportToJson(const ReplayReport& report, const ReplayOptions& options) {
  Value out = Value::MakeObject();
  out.Set("cassette", Value(report.cassette));
  out.Set("upstream", Value(report.upstream));
  out.Set("compare", Value(CompareModeName(report.compare)));
  if (report.compare == CompareMode::kEmbedding) out.Set("threshold", Value(options.threshold));
  out.Set("total", Value(static_cast<int64_t>(report.records.size())));
  out.Set("unchanged", Value(static_cast<int64_t>(report.unchanged)));
  out.Set("changed", Value(static_cast<int64_t>(report.changed)));
  out.Set("errors", Value(static_cast<int64_t>(report.errors)));
  Value records = Value::MakeArray();
  for (const ReplayRecordResult& r : report.records) {
    Value record = Value::MakeObject();
    record.Set("key", Value(r.key));
    record.Set("route", Value(r.route));
    record.Set("model", Value(r.model));
    record.Set("status", Value(ReplayStatusName(r.status)));
    record.Set("detail", Value(r.detail));
    if (r.similarity.has_value()) record.Set("similarity", Value(*r.similarity));
    records.Push(std::move(record));
  }
  out.Set("records", std::move(records));
  return out;
}

std::string ReportSummary(const ReplayReport& report) {
  std::string out;
  for (const ReplayRecordResult& r : report.records) {
    if (r.status == ReplayStatus::kUnchanged) continue;
    out += std::string(ReplayStatusName(r.status)) + "\t" + r.key.substr(0, 12) + "\t" + r.route +
           "\t" + (r.model.empty() ? "-" : r.model) + "\t" + r.detail + "\n";
  }
  out += std::to_string(report.records.size()) + " records (" +
         std::string(CompareModeName(report.compare)) + "): " + std::to_string(report.unchanged) +
         " unchanged, " + std::to_string(report.changed) + " changed, " +
         std::to_string(report.errors) + " errors\n";
  return out;
}

int ReplayExitStatus(const ReplayReport& report) {
  if (report.changed > 0) return 1;
  if (report.errors > 0) return 2;
  return 0;
}

}  // namespace deja::server
