// The cassette format and CassetteStore: round trips, file layout, redaction, durability, used log.
#include "server/cassette_store.h"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/cassette_format.h"

namespace deja::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Entry MakeEntry(uint8_t key_byte, std::string content) {
  Entry e;
  e.key.bytes.fill(key_byte);
  e.canonical_request =
      R"({"messages":[{"content":")" + content + R"(","role":"user"}],"model":"gpt-test"})";
  e.response.status = 200;
  e.response.content_type = "application/json";
  e.response.body =
      "{\n  \"id\": \"chatcmpl-1\",\n  \"object\": \"chat.completion\",\n"
      "  \"choices\": [{\"message\": {\"content\": \"answer to " +
      content + "\"}}]\n}";
  e.meta.created_at_ms = 1'700'000'000'123;
  e.meta.route = "/v1/chat/completions";
  e.meta.model = "gpt-test";
  e.meta.input_tokens = 5;
  e.meta.output_tokens = 7;
  return e;
}

class CassetteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("deja_cassette_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "cassette.json").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<CassetteStore> Open(CassetteStoreOptions o = {}) {
    o.path = path_;
    auto s = CassetteStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Runs `record` in a child process that then dies by SIGKILL with the store it returns still
  // open: no destructor, no compaction. The child exits 2 when a step fails.
  void InKilledChild(const std::function<std::unique_ptr<CassetteStore>()>& record) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::unique_ptr<CassetteStore> open = record();
      if (open == nullptr) _exit(2);
      ::kill(::getpid(), SIGKILL);
      _exit(1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  }
  std::string JournalPath() const { return (dir_ / ".cassette.json.journal").string(); }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(CassetteStoreTest, PutIsOnDiskBeforeItReturnsAndReadsBackEqual) {
  Entry e = MakeEntry(0xbb, "hi");
  InKilledChild([&] {
    auto store = Open();
    if (store == nullptr || std::filesystem::exists(path_)) _exit(2);  // nothing written yet
    if (!store->PutRecord(e, R"({"openai-beta":"assistants=v2"})").ok()) _exit(3);
    return store;
  });
  // Killed without closing: the record is in the journal, the cassette was never written.
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_TRUE(std::filesystem::exists(JournalPath()));
  // The next Open merges it and compacts: the cassette holds it, the journal is gone.
  auto other = Open();
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_FALSE(std::filesystem::exists(JournalPath()));
  StatusOr<Entry> got = other->Peek(e.key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->canonical_request, e.canonical_request);
  EXPECT_EQ(got->meta.created_at_ms, e.meta.created_at_ms);
  EXPECT_EQ(got->meta.route, e.meta.route);
  EXPECT_EQ(got->meta.input_tokens, 5);
  // The body is kept as JSON: same document, compact.
  EXPECT_EQ(json::Write(*json::Parse(got->response.body)),
            json::Write(*json::Parse(e.response.body)));
  bool saw = false;
  other->ForEachRecord([&](const CassetteRecord& r) {
    saw = true;
    EXPECT_EQ(r.keyed_headers, R"({"openai-beta":"assistants=v2"})");
    return true;
  });
  EXPECT_TRUE(saw);
  // No temporary file is left behind.
  int files = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir_)) files += f.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(CassetteStoreTest, FileIsPrettySortedByKeyAndStable) {
  auto store = Open();
  ASSERT_TRUE(store->Put(MakeEntry(0xcc, "third")).ok());
  ASSERT_TRUE(store->Put(MakeEntry(0x11, "first")).ok());
  ASSERT_TRUE(store->Put(MakeEntry(0x77, "second")).ok());
  store.reset();  // compacts
  const std::string text = ReadFile(path_);
  const size_t a = text.find(std::string(64, '1')), b = text.find(std::string(64, '7')),
               c = text.find(std::string(64, 'c'));
  ASSERT_NE(a, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_THAT(text,
              HasSubstr("\n  \"deja_cassette\": 1,\n  \"records\": [\n    {\n      \"key\": "));
  EXPECT_THAT(text, HasSubstr("\"content\": \"second\""));  // the request, one field per line
  EXPECT_THAT(text, HasSubstr("\"recorded_at\": \"2023-11-14T22:13:20.123Z\""));
  // Rewriting the same records produces the same bytes (no churn in review).
  auto reopened = Open();
  ASSERT_TRUE(reopened->Put(MakeEntry(0x77, "second")).ok());
  reopened.reset();
  EXPECT_EQ(ReadFile(path_), text);
}

TEST_F(CassetteStoreTest, ReplacesRecordsAndDeletesAndPurges) {
  auto store = Open();
  Entry e = MakeEntry(0x22, "hi");
  ASSERT_TRUE(store->Put(e).ok());
  e.response.body = R"({"id":"chatcmpl-2"})";
  ASSERT_TRUE(store->Put(e).ok());
  EXPECT_EQ(store->Stats()->entries, 1);
  store.reset();
  store = Open();
  EXPECT_THAT(ReadFile(path_), HasSubstr("chatcmpl-2"));
  EXPECT_THAT(ReadFile(path_), Not(HasSubstr("chatcmpl-1")));
  ASSERT_TRUE(store->Put(MakeEntry(0x33, "other")).ok());
  ASSERT_TRUE(store->Delete(e.key).ok());  // compacts the journal first
  EXPECT_FALSE(std::filesystem::exists(JournalPath()));
  EXPECT_EQ(store->Delete(e.key).code(), StatusCode::kNotFound);
  EXPECT_EQ(Open()->Stats()->entries, 1);
  ScanOptions all;
  EXPECT_EQ(*store->Purge(all), 1);
  EXPECT_EQ(Open()->Stats()->entries, 0);
  EXPECT_THAT(ReadFile(path_), HasSubstr("\"records\": []"));
}

TEST_F(CassetteStoreTest, StreamsAndNonJsonBodiesRoundTripExactly) {
  auto store = Open();
  Entry e = MakeEntry(0x44, "stream");
  e.response.streamed = true;
  e.response.body.clear();
  e.response.content_type = "text/event-stream";
  e.response.events = {{"message_start", R"({"type":"message_start","n":1})"},
                       {"", "[DONE]"},
                       {"", "\"just a string\""},
                       {"", std::string("\xff\xfe binary", 9)},
                       {"", R"({"big":12345678901234567890})"}};
  ASSERT_TRUE(store->Put(e).ok());
  Entry plain = MakeEntry(0x55, "plain");
  plain.response.body = "not json at all";
  plain.response.content_type = "text/plain";
  ASSERT_TRUE(store->Put(plain).ok());
  store.reset();

  auto reopened = Open();
  StatusOr<Entry> got = reopened->Peek(e.key);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->response.streamed);
  EXPECT_EQ(got->response.events, e.response.events);
  EXPECT_EQ(reopened->Peek(plain.key)->response.body, "not json at all");
  const std::string text = ReadFile(path_);
  EXPECT_THAT(text, HasSubstr(R"("data_text": "[DONE]")"));
  EXPECT_THAT(text, HasSubstr(R"("data_base64": ")"));
  EXPECT_THAT(text, HasSubstr(R"("data_text": "{\"big\":12345678901234567890}")"));
  EXPECT_THAT(text, HasSubstr(R"("event": "message_start")"));
}

TEST_F(CassetteStoreTest, RedactsConfiguredPointersInFileAndMemory) {
  CassetteStoreOptions o;
  o.redact_pointers = {"/response/body/id", "/request/messages/*/content",
                       "/response/body/choices/*/message/content", "/response/body/nope"};
  auto store = Open(o);
  Entry e = MakeEntry(0x66, "my password is hunter2");
  ASSERT_TRUE(store->Put(e).ok());
  // This process serves what a replay of the file would serve.
  EXPECT_THAT(store->Peek(e.key)->response.body, HasSubstr("[REDACTED]"));
  EXPECT_THAT(ReadFile(JournalPath()), Not(HasSubstr("hunter2")));  // redacted in the journal too
  store.reset();
  const std::string text = ReadFile(path_);
  EXPECT_THAT(text, Not(HasSubstr("hunter2")));
  EXPECT_THAT(text, Not(HasSubstr("chatcmpl-1")));
  EXPECT_THAT(text, HasSubstr(R"("id": "[REDACTED]")"));
  EXPECT_THAT(text, HasSubstr(R"("content": "[REDACTED]")"));
  // The key is kept, so the (unredacted) request still matches on replay.
  EXPECT_TRUE(Open()->Peek(e.key).ok());

  o.redact_pointers = {"/meta/model"};
  o.path = path_;
  StatusOr<std::unique_ptr<CassetteStore>> bad = CassetteStore::Open(o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CassetteStoreTest, ReplayRefusesAMissingFileAndBadFilesNameTheProblem) {
  CassetteStoreOptions o;
  o.path = path_;
  o.create_if_missing = false;
  StatusOr<std::unique_ptr<CassetteStore>> missing = CassetteStore::Open(o);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("--mode record"));

  std::ofstream(path_) << R"({"deja_cassette": 1, "records": [{"key": "zz"}]})";
  StatusOr<std::unique_ptr<CassetteStore>> bad = CassetteStore::Open(o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("records/0"));

  std::ofstream(path_) << R"({"deja_cassette": 2, "records": []})";
  EXPECT_THAT(CassetteStore::Open(o).status().message(), HasSubstr("version 2"));
}

// Records read at Open are rendered only when the file is next written: they must come out as they
// went in, and Stats().bytes must follow the file.
TEST_F(CassetteStoreTest, LoadedRecordsAreWrittenBackUnchangedAndBytesIsTheFileSize) {
  Entry streamed = MakeEntry(0x44, "streamed");
  streamed.response.streamed = true;
  streamed.response.content_type = "text/event-stream";
  streamed.response.body.clear();
  streamed.response.events = {{"", R"({"choices":[{"delta":{"content":"a"}}]})"}, {"", "[DONE]"}};
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(MakeEntry(0x11, "first")).ok());
    ASSERT_TRUE(store->Put(streamed).ok());
    EXPECT_EQ(store->Stats()->bytes, static_cast<int64_t>(ReadFile(JournalPath()).size()));
  }
  const std::string before = ReadFile(path_);
  auto reopened = Open();
  EXPECT_EQ(reopened->Stats()->bytes, static_cast<int64_t>(before.size()));
  ASSERT_TRUE(reopened->Put(MakeEntry(0x22, "second")).ok());
  EXPECT_EQ(reopened->Stats()->bytes,
            static_cast<int64_t>(before.size() + ReadFile(JournalPath()).size()));
  reopened.reset();
  const std::string after = ReadFile(path_);
  // Both loaded records are in the new file exactly as rendered before.
  const size_t first_start = before.find("\n    {") + 1;
  const std::string first =
      before.substr(first_start, before.find("\n    {", first_start) - first_start);
  EXPECT_THAT(after, HasSubstr(first));
  EXPECT_THAT(after, HasSubstr("\"data_text\": \"[DONE]\""));
  StatusOr<Entry> got = Open()->Peek(streamed.key);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->response.events.size(), 2u);
  EXPECT_EQ(got->response.events[0].data, streamed.response.events[0].data);

  // A path that cannot be read as a file is an error, not an empty cassette.
  StatusOr<std::vector<CassetteRecord>> dir = ReadCassetteFile(dir_.string());
  EXPECT_FALSE(dir.ok());
  EXPECT_NE(dir.status().code(), StatusCode::kNotFound);
}

TEST_F(CassetteStoreTest, UsedLogNamesEachUsedRecordOnce) {
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(MakeEntry(0x01, "a")).ok());
    ASSERT_TRUE(store->Put(MakeEntry(0x02, "b")).ok());
  }
  CassetteStoreOptions o;
  o.used_log = (dir_ / "used.log").string();
  auto store = Open(o);
  Entry a = MakeEntry(0x01, "a");
  EXPECT_TRUE(store->Get(a.key).ok());
  EXPECT_TRUE(store->Get(a.key).ok());
  EXPECT_TRUE(store->Peek(MakeEntry(0x02, "b").key).ok());  // inspection is not use
  CacheKey missing;
  missing.bytes.fill(0x09);
  EXPECT_EQ(store->Get(missing).status().code(), StatusCode::kNotFound);
  // Written at once (no flush needed), one line per key.
  EXPECT_EQ(ReadFile(o.used_log), a.key.Hex() + "\n");
  // Replaying never rewrites the cassette.
  const auto before = std::filesystem::last_write_time(path_);
  EXPECT_TRUE(store->FlushHits().ok());
  store.reset();
  EXPECT_EQ(std::filesystem::last_write_time(path_), before);
}

TEST(CassetteFormat, IsoTimesRoundTrip) {
  EXPECT_EQ(FormatIsoMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(*ParseIsoMillis(FormatIsoMillis(1'700'000'000'123)), 1'700'000'000'123);
  EXPECT_FALSE(ParseIsoMillis("2024-01-01").ok());
}

// ParseCassette cuts the file into records before parsing them; other layouts and broken files
// must read (or fail) exactly as a whole-document parse would.
TEST(CassetteFormat, ParsesAnyMemberOrderAndReportsBrokenFilesWhole) {
  Entry e = MakeEntry(0x55, "x");
  CassetteRecord rec;
  rec.entry = e;
  const std::string record = json::Write(RecordToJson(rec));
  const std::string escaped_brackets = R"({"note": "]}\"[{", "records": [)" + record +
                                       R"(], "deja_cassette": 1, "extra": [1, {"a": "}"}]})";
  StatusOr<std::vector<CassetteRecord>> parsed = ParseCassette(escaped_brackets, "c.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].entry.key, e.key);
  EXPECT_EQ((*parsed)[0].entry.response.body, json::Write(*json::Parse(e.response.body)));

  const std::string good = R"({"deja_cassette": 1, "records": [)" + record + "]}";
  EXPECT_TRUE(ParseCassette(good, "c.json").ok());
  const std::string whole_error =
      json::Parse(R"({"deja_cassette": 1, "records": [{"key": }]})").status().message();
  StatusOr<std::vector<CassetteRecord>> broken =
      ParseCassette(R"({"deja_cassette": 1, "records": [{"key": }]})", "c.json");
  EXPECT_EQ(broken.status().message(), "c.json: " + whole_error);
  EXPECT_FALSE(ParseCassette(good + " trailing", "c.json").ok());
  EXPECT_FALSE(ParseCassette(R"({"deja_cassette": 1, "records": {}})", "c.json").ok());
  EXPECT_THAT(ParseCassette(R"({"records": []})", "c.json").status().message(),
              HasSubstr("not a deja cassette"));
  EXPECT_TRUE(ParseCassette(R"({"deja_cassette": 1, "records": []})", "c.json")->empty());
}

TEST(CassetteFormat, SecretIsFixed) {
  // Cassette keys must be the same on every machine: the secret is a constant, not random.
  EXPECT_EQ(CassetteSecret(), CassetteSecret());
  EXPECT_EQ(CassetteSecret()[0], 'd');
}

// A crash mid-append leaves a torn last line: it was never acknowledged, so it is dropped and the
// records before it are merged. A damaged line before the last one fails Open instead.
TEST_F(CassetteStoreTest, TornJournalTailIsDroppedAndEarlierRecordsKept) {
  InKilledChild([&] {
    auto store = Open();
    for (uint8_t k : {0x10, 0x20, 0x30}) {
      if (store == nullptr || !store->Put(MakeEntry(k, "rec")).ok()) _exit(2);
    }
    return store;
  });
  const std::string journal = ReadFile(JournalPath());
  std::ofstream(JournalPath(), std::ios::app) << R"({"key":"4040404040","route":"/v1/ch)";
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Stats()->entries, 3);
  EXPECT_FALSE(std::filesystem::exists(JournalPath()));
  StatusOr<std::vector<CassetteRecord>> file = ReadCassetteFile(path_);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->size(), 3u);
  store.reset();

  // A bad line that is not the last: the journal is damaged, Open says so and keeps it.
  std::ofstream(JournalPath()) << "{not json}\n" << journal;
  CassetteStoreOptions o;
  o.path = path_;
  StatusOr<std::unique_ptr<CassetteStore>> bad = CassetteStore::Open(o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("journal"));
  EXPECT_TRUE(std::filesystem::exists(JournalPath()));
}

// The compacted cassette (at close, or merged after a kill) is byte for byte the file that
// rewriting it on every record produced.
TEST_F(CassetteStoreTest, CompactionIsByteIdenticalToAWholeRewrite) {
  std::vector<CassetteRecord> records;
  for (uint8_t k : {0x90, 0x15, 0x42, 0x15}) {  // 0x15 twice: the later record replaces it
    CassetteRecord r;
    r.entry = MakeEntry(k, "record " + std::to_string(records.size()));
    if (k == 0x42) {
      r.entry.response.streamed = true;
      r.entry.response.content_type = "text/event-stream";
      r.entry.response.events = {{"message_start", R"({"n":1})"}, {"", "[DONE]"}};
    }
    records.push_back(r);
  }
  const std::string expected_path = (dir_ / "expected.json").string();
  std::vector<CassetteRecord> last = {records[0], records[2], records[3]};
  ASSERT_TRUE(WriteCassetteFile(expected_path, last).ok());
  const std::string expected = ReadFile(expected_path);

  {
    auto store = Open();
    for (const CassetteRecord& r : records) ASSERT_TRUE(store->Put(r.entry).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(JournalPath()));
  EXPECT_EQ(ReadFile(path_), expected);

  std::filesystem::remove(path_);
  InKilledChild([&] {
    auto store = Open();
    for (const CassetteRecord& r : records) {
      if (store == nullptr || !store->Put(r.entry).ok()) _exit(2);
    }
    return store;
  });
  EXPECT_FALSE(std::filesystem::exists(path_));
  ASSERT_NE(Open(), nullptr);
  EXPECT_EQ(ReadFile(path_), expected);
}

// Recording appends each record once: bytes written grow with the records, not with their square
// (rewriting the whole file per record wrote about N/2 times the final file for N records).
TEST_F(CassetteStoreTest, RecordingManyRecordsWritesLinearBytes) {
  constexpr int kRecords = 2000;
  auto store = Open();
  for (int i = 0; i < kRecords; ++i) {
    Entry e = MakeEntry(0x01, "request " + std::to_string(i));
    e.key.bytes[0] = static_cast<uint8_t>(i >> 8);
    e.key.bytes[1] = static_cast<uint8_t>(i);
    ASSERT_TRUE(store->Put(e).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path_));  // the cassette is not touched while recording
  const int64_t appended = store->bytes_written();
  EXPECT_EQ(appended, static_cast<int64_t>(ReadFile(JournalPath()).size()));
  store.reset();
  const int64_t cassette = static_cast<int64_t>(ReadFile(path_).size());
  EXPECT_EQ(Open()->Stats()->entries, kRecords);
  // Journal lines are compact JSON, the cassette pretty: each is within 2x of the other.
  EXPECT_LT(appended, 2 * cassette);
  EXPECT_GT(appended, cassette / 2);
}

// Removals reach the removal listener once the file is rewritten; replacing a record does not.
class KeyRecorder : public StoreRemovalListener {
 public:
  void OnRemoved(std::span<const CacheKey> keys, RemovalCause cause) override {
    for (const CacheKey& k : keys) heard.emplace_back(k.bytes[0], cause);
  }
  std::vector<std::pair<uint8_t, RemovalCause>> heard;
};

TEST_F(CassetteStoreTest, DeleteAndPurgeAreHeardReplacingIsNot) {
  auto listener = std::make_shared<KeyRecorder>();
  CassetteStoreOptions o;
  o.removal_listener = listener;
  auto store = Open(o);
  ASSERT_TRUE(store->Put(MakeEntry(0x11, "one")).ok());
  ASSERT_TRUE(store->Put(MakeEntry(0x22, "two")).ok());
  ASSERT_TRUE(store->Put(MakeEntry(0x33, "three")).ok());
  ASSERT_TRUE(store->Put(MakeEntry(0x11, "one again")).ok());  // same key: a replacement
  EXPECT_TRUE(listener->heard.empty());
  ASSERT_TRUE(store->Delete(MakeEntry(0x22, "").key).ok());
  EXPECT_EQ(store->Delete(MakeEntry(0x22, "").key).code(), StatusCode::kNotFound);
  ScanOptions all;
  StatusOr<int64_t> purged = store->Purge(all);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 2);
  using Heard = std::pair<uint8_t, RemovalCause>;
  EXPECT_EQ(listener->heard, (std::vector<Heard>{{0x22, RemovalCause::kDeleted},
                                                 {0x11, RemovalCause::kPurged},
                                                 {0x33, RemovalCause::kPurged}}));
  // Nothing left: a purge removes nothing and tells nothing.
  ASSERT_TRUE(store->Purge(all).ok());
  EXPECT_EQ(listener->heard.size(), 3u);
}

}  // namespace
}  // namespace deja::server
