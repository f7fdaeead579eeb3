// The cassette file: recorded requests and answers that a test repository can commit.
//
// One pretty-printed JSON document (2-space indent), records sorted by key, one record per request:
//
//   {
//     "deja_cassette": 1,
//     "records": [
//       {
//         "key": "3f…",                       64 hex digits: what a request must key to
//         "route": "/v1/chat/completions",
//         "namespace": "",
//         "headers": {"anthropic-version": …}, only when headers entered the key
//         "request": {…},                      the normalized request, members sorted (RFC 8785)
//         "response": {"status": 200, "content_type": "application/json", "body": {…}}
//                  or {"status": 200, "content_type": "text/event-stream",
//                      "events": [{"event": "message_start", "data": {…}}, {"data_text":
//                      "[DONE]"}]},
//         "meta": {"recorded_at": "2025-01-01T00:00:00.000Z", "model": …, "input_tokens": …,
//                  "output_tokens": …}
//       }
//     ]
//   }
//
// Pretty JSON rather than JSON Lines: a record spans many lines, so a re-recorded answer shows up
// in review as the few lines that changed, not one long replaced line. Bodies and event payloads
// that are JSON are embedded as JSON ("body", "data"; whitespace is not kept, and a body with an
// integer beyond 2^53 is kept as text so no digit is lost); other text is a string ("body_text",
// "data_text"); bytes that are not UTF-8 are base64 ("body_base64", "data_base64").
//
// Nothing secret is ever written: the store never has Authorization or API-key headers (the
// request is the normalized body), and `redact_pointers` blank out other fields.
//
// Thread safety: free functions over values; safe to call concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/key.h"
#include "deja/status.h"
#include "deja/store.h"

namespace deja::server {

inline constexpr int kCassetteVersion = 1;
inline constexpr std::string_view kRedacted = "[REDACTED]";

struct CassetteRecord {
  Entry entry;                // key, canonical request, response, route/namespace/model/tokens
  std::string keyed_headers;  // canonical JSON object of the headers in the key; "" for none
};

// The fixed deployment secret of cassette mode. With it (and the shared tenant scope) a key depends
// only on the namespace, route, keyed headers and body, so a cassette recorded on one machine
// replays on another, whatever API key the tests use there.
const DeploymentSecret& CassetteSecret();

json::Value RecordToJson(const CassetteRecord& record);
// InvalidArgument naming the missing or malformed member.
StatusOr<CassetteRecord> RecordFromJson(const json::Value& record);

// A parsed redaction pointer (RFC 6901 into a record's JSON, "*" = every member or element).
using RedactPointer = std::vector<std::string>;
// Only pointers under /request or /response are accepted: the key, route and metadata are what
// replay matches on.
StatusOr<std::vector<RedactPointer>> ParseRedactPointers(const std::vector<std::string>& pointers);
// Replaces each existing value at `pointers` with "[REDACTED]"; absent paths are skipped.
void Redact(const std::vector<RedactPointer>& pointers, json::Value* record);

// A record as it appears in the file (indented for its place in "records", no trailing newline).
std::string RenderRecord(const json::Value& record);
// The whole file from rendered records in key order.
std::string RenderCassette(const std::vector<const std::string*>& rendered_records);

// Records of a cassette's text, sorted by key. `source` names it in errors.
StatusOr<std::vector<CassetteRecord>> ParseCassette(std::string_view text, std::string_view source);
// NotFound when the file does not exist.
StatusOr<std::vector<CassetteRecord>> ReadCassetteFile(const std::string& path);
// Renders `records` (sorted by key here) and writes them with WriteFileAtomically.
Status WriteCassetteFile(const std::string& path, std::vector<CassetteRecord> records);
// Writes `contents` to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs
// the directory: readers see the old file or the new one, never a mix, even after kill -9.
Status WriteFileAtomically(const std::string& path, std::string_view contents);

// "2025-01-01T00:00:00.000Z"; and back (InvalidArgument on another format).
std::string FormatIsoMillis(int64_t ms);
StatusOr<int64_t> ParseIsoMillis(std::string_view text);

}  // namespace deja::server
