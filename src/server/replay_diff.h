// Replay diff: re-ask every recorded request of a cassette and report which answers changed.
// The engine of `deja replay` (src/cli/replay_command.cc); README "Test mode", "Replay diff".
//
//   ReplayOptions o;
//   o.upstream = "https://api.openai.com";
//   o.compare = CompareMode::kStructured;
//   o.openai_api_key = getenv("OPENAI_API_KEY");
//   UpstreamClient client;
//   ReplayReport report = RunReplay(records, o, &client);
//   std::string json = json::WriteCanonical(ReportToJson(report));
//   return ReplayExitStatus(report);   // 0 unchanged, 1 changed, 2 errors
//
// Each record's request is its normalized request JSON (a valid provider request: normalization
// only drops transport and bookkeeping fields such as `stream` and `user`), with "model" replaced
// when ReplayOptions::model is set, POSTed to the record's route. It is always asked
// non-streaming ("stream" / "stream_options" are absent): the comparisons assemble recorded
// streams into bodies, so a streamed recording compares with the non-stream answer as equal when
// the answer is the same. Headers: the record's keyed headers (anthropic-version, anthropic-beta,
// openai-beta), anthropic-version 2023-06-01 when an Anthropic record has none, and the API key of
// the route's provider (Authorization: Bearer for OpenAI, x-api-key for Anthropic) when given.
//
// Comparisons (CompareMode) of the recorded answer with the new one (SameAnswer, answer_compare.h,
// for all but the judge):
//   bytes       the AnswerText (answer_compare.h) byte for byte: the answer's text and rendered
//               tool calls, exactly. Not the body bytes, which differ on every call (ids, created).
//   structured  StructuredFingerprint equality (text, tool calls with JSON-parsed arguments, finish
//               reasons; ids, usage, snapshot left out). The detail names the first difference.
//   embedding   cosine similarity of the two AnswerTexts' embeddings >= threshold. Identical texts
//               count as similarity 1 without embedding them.
//   judge       a chat completion to the upstream (judge model: judge_model, else the record's
//               model) with the rubric of replay_judge.h; an unparsable verdict is an error.
//               Identical texts are unchanged without asking the judge.
// A record is an error (not a change) when the request cannot be sent, the upstream answers with
// a non-2xx status while the recording was 2xx, or an answer cannot be read.
//
// Thread safety: RunReplay uses `parallel` threads of its own and the thread-safe UpstreamClient;
// the other functions are pure.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "deja/status.h"
#include "deja/store.h"
#include "server/answer_compare.h"
#include "server/cassette_format.h"
#include "server/upstream_client.h"

namespace deja::server {

enum class CompareMode { kBytes, kStructured, kEmbedding, kJudge };
// "bytes", "structured", "embedding", "judge"; InvalidArgument otherwise.
StatusOr<CompareMode> ParseCompareMode(std::string_view name);
std::string_view CompareModeName(CompareMode mode);

// ReplayOptions::similarity is a TextSimilarity (answer_compare.h), called concurrently from
// RunReplay's threads.

inline constexpr std::string_view kDefaultAnthropicVersion = "2023-06-01";

struct ReplayOptions {
  std::string upstream;            // base URL for OpenAI routes, e.g. "http://127.0.0.1:9000"
  std::string anthropic_upstream;  // base URL for /v1/messages; "" = upstream
  CompareMode compare = CompareMode::kStructured;
  std::string model;              // replaces each request's "model" when set
  double threshold = 0.9;         // embedding: least similarity counted as unchanged
  TextSimilarity similarity;      // embedding: required
  std::string judge_model;        // judge: "" = the record's model
  int parallel = 4;               // records in flight at once (1..64)
  std::string openai_api_key;     // "" sends no Authorization
  std::string anthropic_api_key;  // "" sends no x-api-key
};

enum class ReplayStatus { kUnchanged, kChanged, kError };
std::string_view ReplayStatusName(ReplayStatus status);  // "unchanged", "changed", "error"

struct ReplayRecordResult {
  std::string key;    // 64 hex digits
  std::string route;  // "/v1/chat/completions"
  std::string model;  // the model asked
  ReplayStatus status = ReplayStatus::kError;
  std::string detail;                // why changed / the error; the judge's reason; "" otherwise
  std::optional<double> similarity;  // embedding mode
};

struct ReplayReport {
  std::string cassette;  // for the report only
  std::string upstream;
  CompareMode compare = CompareMode::kStructured;
  std::vector<ReplayRecordResult> records;  // in cassette (key) order
  size_t unchanged = 0;
  size_t changed = 0;
  size_t errors = 0;
};

// The request that re-asks `record`: base URL, target, headers and body. InvalidArgument when the
// route is not a cached route or the stored request is not a JSON object.
StatusOr<UpstreamRequest> BuildReplayRequest(const CassetteRecord& record,
                                             const ReplayOptions& options);

// POSTs `request` and reads the whole answer (a text/event-stream answer is parsed into events).
StatusOr<CachedResponse> FetchAnswer(UpstreamClient* client, const UpstreamRequest& request);

// Compares the recorded answer with `fresh`; asks the judge through `client` in judge mode. Fills
// status, detail and similarity of *result.
void CompareAnswers(const CassetteRecord& record, const CachedResponse& fresh,
                    const ReplayOptions& options, UpstreamClient* client,
                    ReplayRecordResult* result);

// Re-asks and compares every record. Options are not validated here beyond what each record needs
// (the caller checks the mode's requirements, e.g. a similarity for embedding mode).
ReplayReport RunReplay(const std::vector<CassetteRecord>& records, const ReplayOptions& options,
                       UpstreamClient* client);

// {"cassette","upstream","compare","total","unchanged","changed","errors",
//  "records":[{"key","route","model","status","detail","similarity"?}]} (+ "threshold" in
// embedding mode).
json::Value ReportToJson(const ReplayReport& report, const ReplayOptions& options);
// Lines for people: one per changed or failed record, then the totals.
std::string ReportSummary(const ReplayReport& report);
// 1 when any record changed (a regression), else 2 when any record could not be checked, else 0.
int ReplayExitStatus(const ReplayReport& report);

}  // namespace deja::server
