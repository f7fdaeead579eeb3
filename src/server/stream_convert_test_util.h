// Helpers for the stream conversion tests (test-only; not compiled into deja_server).
// Fixtures live in tests/fixtures/streams/: NAME.sse is a stream shaped like the provider's
// captured output, NAME.json the non-stream body the provider returns for the same answer.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "server/sse.h"
#include "server/stream_convert.h"

namespace deja::server::testing {

inline std::string ReadFixture(std::string_view name) {
  const std::string path =
      std::string(DEJA_SOURCE_DIR) + "/tests/fixtures/streams/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "missing fixture " << path;
    return "";
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses a whole SSE text, requiring it to end on an event boundary.
inline std::vector<StreamEvent> ParseSse(std::string_view text) {
  SseParser parser;
  std::vector<StreamEvent> events;
  parser.Feed(text, &events);
  EXPECT_FALSE(parser.HasPartialEvent());
  return events;
}

inline std::string ToSse(const std::vector<StreamEvent>& events) {
  std::string out;
  for (const StreamEvent& e : events) AppendSse(e, &out);
  return out;
}

// Canonical form of a JSON text, for comparisons that ignore member order and whitespace.
inline std::string Canon(std::string_view text) {
  StatusOr<json::Value> v = json::Parse(text);
  if (!v.ok()) return "<not JSON: " + v.status().ToString() + ">";
  return json::WriteCanonical(*v);
}

inline json::Value MustParse(std::string_view text) {
  StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << " in " << text;
  return v.ok() ? *v : json::Value();
}

// body -> events -> SSE wire -> events -> body must give the body back, and the replayed stream
// must classify as clean. Returns the exploded events for further checks.
inline std::vector<StreamEvent> ExpectRoundTrip(Route route, std::string_view body,
                                                bool include_usage) {
  StatusOr<std::vector<StreamEvent>> events = ExplodeBody(route, body, include_usage);
  EXPECT_TRUE(events.ok()) << events.status().ToString();
  if (!events.ok()) return {};
  std::vector<StreamEvent> replayed = ParseSse(ToSse(*events));
  EXPECT_EQ(replayed, *events);
  EXPECT_EQ(ClassifyStream(route, replayed), StreamEnd::kClean);
  StatusOr<std::string> assembled = AssembleStream(route, replayed);
  EXPECT_TRUE(assembled.ok()) << assembled.status().ToString();
  if (assembled.ok()) {
    EXPECT_EQ(Canon(*assembled), Canon(body));
  }
  return *events;
}

// The data of every event but OpenAI's [DONE], parsed.
inline std::vector<json::Value> Payloads(const std::vector<StreamEvent>& events) {
  std::vector<json::Value> out;
  for (const StreamEvent& e : events) {
    if (e.data != "[DONE]") out.push_back(MustParse(e.data));
  }
  return out;
}

}  // namespace deja::server::testing
