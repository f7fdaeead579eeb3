#include "server/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace deja::server {
namespace {

std::vector<StreamEvent> ParseAll(std::string_view text) {
  SseParser parser;
  std::vector<StreamEvent> out;
  parser.Feed(text, &out);
  return out;
}

// Feeds one byte at a time: every internal state must survive a split anywhere.
std::vector<StreamEvent> ParseBytewise(std::string_view text, bool* partial = nullptr) {
  SseParser parser;
  std::vector<StreamEvent> out;
  for (char c : text) parser.Feed(std::string_view(&c, 1), &out);
  if (partial != nullptr) *partial = parser.HasPartialEvent();
  return out;
}

constexpr std::string_view kOpenAI =
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n"
    "\n"
    "data: [DONE]\n"
    "\n";

constexpr std::string_view kAnthropic =
    "event: message_start\n"
    "data: {\"type\":\"message_start\"}\n"
    "\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n"
    "\n";

TEST(SseParserTest, ParsesUnnamedEvents) {
  std::vector<StreamEvent> events = ParseAll(kOpenAI);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "");
  EXPECT_EQ(events[0].data,
            "{\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}");
  EXPECT_EQ(events[1], (StreamEvent{"", "[DONE]"}));
}

TEST(SseParserTest, ParsesNamedEventsAndResetsTheNameAfterDispatch) {
  std::vector<StreamEvent> events = ParseAll(std::string(kAnthropic) + "data: x\n\n");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0], (StreamEvent{"message_start", "{\"type\":\"message_start\"}"}));
  EXPECT_EQ(events[1], (StreamEvent{"ping", "{\"type\": \"ping\"}"}));
  EXPECT_EQ(events[2].event, "message_stop");
  EXPECT_EQ(events[3], (StreamEvent{"", "x"}));
}

TEST(SseParserTest, SplitAtEveryByteGivesTheSameEvents) {
  for (std::string_view text : {kOpenAI, kAnthropic}) {
    bool partial = true;
    EXPECT_EQ(ParseBytewise(text, &partial), ParseAll(text));
    EXPECT_FALSE(partial);
  }
}

TEST(SseParserTest, AcceptsCrLfAndCrLineEnds) {
  const std::vector<StreamEvent> want = ParseAll(kAnthropic);
  for (std::string_view eol : {"\r\n", "\r"}) {
    std::string text;
    for (char c : kAnthropic) {
      if (c == '\n') {
        text += eol;
      } else {
        text += c;
      }
    }
    EXPECT_EQ(ParseAll(text), want) << "eol size " << eol.size();
    bool partial = true;
    EXPECT_EQ(ParseBytewise(text, &partial), want) << "eol size " << eol.size();
    EXPECT_FALSE(partial);
  }
}

TEST(SseParserTest, CrLfSplitAcrossFeedsIsOneLineEnd) {
  SseParser parser;
  std::vector<StreamEvent> out;
  parser.Feed("data: a\r", &out);
  parser.Feed("\ndata: b\r", &out);
  parser.Feed("\n\r", &out);
  parser.Feed("\n", &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "a\nb");
  EXPECT_FALSE(parser.HasPartialEvent());
}

TEST(SseParserTest, JoinsDataLinesAndKeepsEmptyOnes) {
  std::vector<StreamEvent> events = ParseAll("data: one\ndata:\ndata:  two\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "one\n\n two");  // only the first space after the colon goes
}

TEST(SseParserTest, IgnoresCommentsIdRetryAndUnknownFields) {
  std::vector<StreamEvent> events =
      ParseAll(": keep-alive\nid: 7\nretry: 1000\nfoo: bar\nevent:done\ndata:x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], (StreamEvent{"done", "x"}));
}

TEST(SseParserTest, EventWithoutDataIsNotDispatched) {
  EXPECT_TRUE(ParseAll("event: ping\n\n").empty());
  EXPECT_TRUE(ParseAll(": only a comment\n\n").empty());
  // A field name without a colon has an empty value, so this is an event with empty data.
  std::vector<StreamEvent> events = ParseAll("event: e\ndata\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], (StreamEvent{"e", ""}));
}

TEST(SseParserTest, SkipsLeadingBomEvenWhenSplit) {
  const std::string text = "\xEF\xBB\xBF" + std::string(kOpenAI);
  EXPECT_EQ(ParseAll(text), ParseAll(kOpenAI));
  EXPECT_EQ(ParseBytewise(text), ParseAll(kOpenAI));
  // Only at the very start: later it is data.
  std::vector<StreamEvent> events = ParseAll("data: \xEF\xBB\xBFx\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "\xEF\xBB\xBFx");
}

TEST(SseParserTest, ReportsPartialEvents) {
  SseParser parser;
  std::vector<StreamEvent> out;
  EXPECT_FALSE(parser.HasPartialEvent());
  parser.Feed("data: {\"choices\":[{\"de", &out);
  EXPECT_TRUE(parser.HasPartialEvent());  // unterminated line
  parser.Feed("lta\":{}}]}\n", &out);
  EXPECT_TRUE(parser.HasPartialEvent());  // line complete, event not dispatched
  EXPECT_TRUE(out.empty());
  parser.Feed("\n", &out);
  EXPECT_FALSE(parser.HasPartialEvent());
  EXPECT_EQ(out.size(), 1u);
  parser.Feed(": keep-alive\n", &out);
  EXPECT_FALSE(parser.HasPartialEvent());  // comments carry no event
  parser.Feed("event: message_stop\n", &out);
  EXPECT_TRUE(parser.HasPartialEvent());
  parser.Feed("\xEF", &out);
  EXPECT_TRUE(parser.HasPartialEvent());
}

TEST(SseParserTest, PartialBomIsPartial) {
  SseParser parser;
  std::vector<StreamEvent> out;
  parser.Feed("\xEF\xBB", &out);
  EXPECT_TRUE(parser.HasPartialEvent());
}

TEST(AppendSseTest, WritesWireForm) {
  std::string out;
  AppendSse(StreamEvent{"message_stop", "{\"type\":\"message_stop\"}"}, &out);
  AppendSse(StreamEvent{"", "[DONE]"}, &out);
  EXPECT_EQ(out,
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
            "data: [DONE]\n\n");
}

TEST(AppendSseTest, RoundTripsThroughTheParser) {
  const std::vector<StreamEvent> events = {
      {"", "{}"},
      {"a", "line one\nline two"},
      {"b", ""},
      {"", " leading space"},
      {"c", "\n\nblank lines\n"},
      {"d", "cr\rcrlf\r\nend"},
  };
  std::string wire;
  for (const StreamEvent& e : events) AppendSse(e, &wire);
  std::vector<StreamEvent> back = ParseBytewise(wire);
  ASSERT_EQ(back.size(), events.size());
  for (size_t i = 0; i + 1 < events.size(); ++i) EXPECT_EQ(back[i], events[i]) << i;
  // SSE has no way to carry a bare CR: every line break comes back as "\n".
  EXPECT_EQ(back.back(), (StreamEvent{"d", "cr\ncrlf\nend"}));
}

}  // namespace
}  // namespace deja::server
