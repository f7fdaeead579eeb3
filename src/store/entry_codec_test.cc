#include "store/entry_codec.h"

#include <random>
#include <string>

#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace deja::codec {
namespace {

Entry StreamedEntry() {
  Entry e = deja::testing::MakeEntry(7, 0, "team-a", "claude-3-5-sonnet");
  e.response.streamed = true;
  e.response.content_type = "text/event-stream";
  e.response.events = {{"message_start", "{\"type\":\"message_start\"}"},
                       {"", std::string("bin\0ary", 7)},
                       {"message_stop", ""}};
  e.meta.created_at_ms = 1'700'000'000'123;
  e.meta.expires_at_ms = -1;  // any int64 must round-trip
  e.meta.hit_count = 42;
  e.meta.last_hit_at_ms = INT64_MAX;
  e.meta.size_bytes = 999;
  return e;
}

TEST(EntryCodecTest, MetaRoundTripsAndHasPredictedSize) {
  EntryMeta m = StreamedEntry().meta;
  std::string rec = EncodeMeta(m);
  EXPECT_EQ(static_cast<int64_t>(rec.size()), MetaRecordSize(m));
  EntryMeta back;
  ASSERT_TRUE(DecodeMeta(rec, &back).ok());
  EXPECT_EQ(back, m);
}

TEST(EntryCodecTest, HitCountsDoNotChangeMetaSize) {
  EntryMeta m = StreamedEntry().meta;
  size_t before = EncodeMeta(m).size();
  m.hit_count = 0;
  m.last_hit_at_ms = 0;
  EXPECT_EQ(EncodeMeta(m).size(), before);
}

TEST(EntryCodecTest, BodyRoundTripsStreamedAndPlain) {
  for (Entry e : {StreamedEntry(), deja::testing::MakeEntry(3, 4096)}) {
    Entry back;
    Status s = DecodeBody(EncodeBody(e), &back);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(back.canonical_request, e.canonical_request);
    EXPECT_EQ(back.response, e.response);
  }
}

TEST(EntryCodecTest, WholeEntryRoundTrips) {
  Entry e = StreamedEntry();
  StatusOr<Entry> back = DecodeEntry(EncodeEntry(e));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, e);
}

TEST(EntryCodecTest, EveryTruncationIsDataLoss) {
  Entry e = StreamedEntry();
  std::string meta = EncodeMeta(e.meta), body = EncodeBody(e), whole = EncodeEntry(e);
  for (size_t n = 0; n < meta.size(); ++n) {
    EntryMeta m;
    EXPECT_EQ(DecodeMeta(std::string_view(meta).substr(0, n), &m).code(), StatusCode::kDataLoss)
        << n;
  }
  for (size_t n = 0; n < body.size(); ++n) {
    Entry out;
    EXPECT_EQ(DecodeBody(std::string_view(body).substr(0, n), &out).code(), StatusCode::kDataLoss)
        << n;
  }
  for (size_t n = 0; n < whole.size(); ++n) {
    EXPECT_EQ(DecodeEntry(std::string_view(whole).substr(0, n)).status().code(),
              StatusCode::kDataLoss)
        << n;
  }
}

TEST(EntryCodecTest, TrailingBytesAreDataLoss) {
  Entry e = StreamedEntry();
  EntryMeta m;
  EXPECT_EQ(DecodeMeta(EncodeMeta(e.meta) + "x", &m).code(), StatusCode::kDataLoss);
  Entry out;
  EXPECT_EQ(DecodeBody(EncodeBody(e) + "x", &out).code(), StatusCode::kDataLoss);
}

TEST(EntryCodecTest, UnknownVersionAndTagAreDataLoss) {
  std::string rec = EncodeMeta(StreamedEntry().meta);
  EntryMeta m;
  rec[1] = 2;
  Status s = DecodeMeta(rec, &m);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("unsupported version 2"), std::string::npos);
  Entry out;
  EXPECT_EQ(DecodeBody(EncodeMeta(StreamedEntry().meta), &out).code(), StatusCode::kDataLoss);
}

TEST(EntryCodecTest, HugeEventCountIsRejectedBeforeAllocating) {
  Entry e = StreamedEntry();
  e.response.events.clear();
  std::string body = EncodeBody(e);
  // The event count is the last four bytes of a body without events.
  for (size_t i = body.size() - 4; i < body.size(); ++i) body[i] = '\xff';
  Entry out;
  Status s = DecodeBody(body, &out);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("event count"), std::string::npos);
}

TEST(EntryCodecTest, BadStreamedFlagIsDataLoss) {
  Entry e = deja::testing::MakeEntry(1, 0);
  e.canonical_request.clear();
  e.response.content_type.clear();
  std::string body = EncodeBody(e);
  body[2 + 4 + 4 + 4] = 2;  // header, request len, status, content_type len, then the flag
  Entry out;
  EXPECT_EQ(DecodeBody(body, &out).code(), StatusCode::kDataLoss);
}

// Random corruption must produce OK or DataLoss, never a crash (run under ASan for full value).
TEST(EntryCodecTest, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(12345);
  Entry e = StreamedEntry();
  const std::string body = EncodeBody(e), meta = EncodeMeta(e.meta);
  int rejected = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    std::string b = body, m = meta;
    for (int flips = 0; flips < 3; ++flips) {
      b[rng() % b.size()] = static_cast<char>(rng());
      m[rng() % m.size()] = static_cast<char>(rng());
    }
    Entry out;
    EntryMeta mo;
    Status sb = DecodeBody(b, &out), sm = DecodeMeta(m, &mo);
    for (const Status& s : {sb, sm}) {
      ASSERT_TRUE(s.ok() || s.code() == StatusCode::kDataLoss) << s.ToString();
      rejected += s.ok() ? 0 : 1;
    }
  }
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace deja::codec
