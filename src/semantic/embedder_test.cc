#include "semantic/embedder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace deja::semantic {
namespace {

// Counts calls; the vector encodes the text's length so results are checkable.
class CountingEmbedder final : public Embedder {
 public:
  std::string_view name() const override { return "counting"; }
  int dimensions() const override { return 2; }
  Status Embed(std::string_view text, std::vector<float>* out) const override {
    calls.fetch_add(1);
    if (text == "fail") return InternalError("asked to fail");
    *out = {static_cast<float>(text.size()), 1.0f};
    return Status::Ok();
  }
  mutable std::atomic<int> calls{0};
};

TEST(MemoTest, IdenticalTextsAreEmbeddedOnce) {
  auto inner = std::make_unique<CountingEmbedder>();
  CountingEmbedder* counter = inner.get();
  auto memo = WrapWithMemo(std::move(inner), 64);
  EXPECT_EQ(memo->name(), "counting");
  EXPECT_EQ(memo->dimensions(), 2);
  std::vector<float> v;
  ASSERT_TRUE(memo->Embed("hello", &v).ok());
  ASSERT_TRUE(memo->Embed("hello", &v).ok());
  EXPECT_THAT(v, testing::ElementsAre(5.0f, 1.0f));
  EXPECT_EQ(counter->calls.load(), 1);
  ASSERT_TRUE(memo->Embed("hello!", &v).ok());
  EXPECT_EQ(counter->calls.load(), 2);
  // Errors are not memoized.
  EXPECT_FALSE(memo->Embed("fail", &v).ok());
  EXPECT_FALSE(memo->Embed("fail", &v).ok());
  EXPECT_EQ(counter->calls.load(), 4);
}

TEST(MemoTest, IsBoundedLeastRecentlyUsed) {
  auto inner = std::make_unique<CountingEmbedder>();
  CountingEmbedder* counter = inner.get();
  // 16 entries over 16 shards: one per shard, so any two texts in one shard evict each other.
  auto memo = WrapWithMemo(std::move(inner), 16);
  std::vector<float> v;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(memo->Embed("text " + std::to_string(i), &v).ok());
  EXPECT_EQ(counter->calls.load(), 1000);
  // The most recent text of each shard survives; the first 900 texts have surely been evicted
  // (at most 16 survivors), so re-embedding them all costs at least 884 calls.
  for (int i = 0; i < 900; ++i) ASSERT_TRUE(memo->Embed("text " + std::to_string(i), &v).ok());
  EXPECT_GE(counter->calls.load(), 1000 + 884);
  const int before = counter->calls.load();
  ASSERT_TRUE(memo->Embed("text 899", &v).ok());  // Just used: still there.
  EXPECT_EQ(counter->calls.load(), before);
}

TEST(MemoTest, ConcurrentCallersGetCorrectVectors) {
  auto memo = WrapWithMemo(std::make_unique<CountingEmbedder>(), 32);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> v;
      for (int i = 0; i < 2000; ++i) {
        const std::string text(static_cast<size_t>((i * 7 + t) % 50), 'x');
        if (!memo->Embed(text, &v).ok() || v[0] != static_cast<float>(text.size())) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(MakeEmbedderTest, ValidatesOptions) {
  EmbedderOptions o;
  o.kind = "bert";
  EXPECT_EQ(MakeEmbedder(o).status().code(), StatusCode::kInvalidArgument);
  o.kind = "lexical";
  o.dimensions = 8;
  EXPECT_EQ(MakeEmbedder(o).status().code(), StatusCode::kInvalidArgument);
  o.kind = "static";
  EXPECT_THAT(MakeEmbedder(o).status().message(), testing::HasSubstr("model directory"));
  o.kind = "words";
  EXPECT_THAT(MakeEmbedder(o).status().message(), testing::HasSubstr("fetch-word-vectors"));
}

TEST(MakeEmbedderTest, BuildsAMemoizedLexicalEmbedder) {
  EmbedderOptions o;
  o.dimensions = 512;
  StatusOr<std::unique_ptr<Embedder>> e = MakeEmbedder(o);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->name(), "lexical");
  EXPECT_EQ((*e)->dimensions(), 512);
  std::vector<float> a, b;
  ASSERT_TRUE((*e)->Embed("same text", &a).ok());
  ASSERT_TRUE((*e)->Embed("same text", &b).ok());
  EXPECT_EQ(a, b);
  o.memo_entries = 0;
  ASSERT_TRUE(MakeEmbedder(o).ok());
}

TEST(L2NormalizeTest, ScalesToUnitAndLeavesZero) {
  std::vector<float> v = {3, 4};
  L2Normalize(&v);
  EXPECT_THAT(v, testing::ElementsAre(testing::FloatEq(0.6f), testing::FloatEq(0.8f)));
  std::vector<float> z = {0, 0};
  L2Normalize(&z);
  EXPECT_THAT(z, testing::ElementsAre(0.0f, 0.0f));
}

TEST(TextSimilarityTest, IsTheCosineOfTheEmbeddingsAndPassesErrorsOn) {
  StatusOr<std::unique_ptr<Embedder>> e = MakeEmbedder(EmbedderOptions{});
  ASSERT_TRUE(e.ok());
  StatusOr<double> same = TextSimilarity(**e, "sort a list in python", "sort a list in python");
  ASSERT_TRUE(same.ok());
  EXPECT_NEAR(*same, 1.0, 1e-6);
  StatusOr<double> other = TextSimilarity(**e, "sort a list in python", "weather in Paris today");
  ASSERT_TRUE(other.ok());
  EXPECT_LT(*other, 0.5);
  CountingEmbedder failing;
  EXPECT_EQ(TextSimilarity(failing, "ok", "fail").status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace deja::semantic
