// The semantic cache's saved file (semantic_index_file.h) on the vector-index container: round
// trip, and every unusable file (torn, altered, another format or embedder) is an error the caller
// turns into a rebuild, never a crash or wrong entries.
#include "semantic/semantic_index_file.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "semantic/index_file.h"

namespace deja::semantic {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Every byte of the container's header (24 bytes) and trailer (40), every 7th of the payload.
std::vector<size_t> Positions(size_t size) {
  std::vector<size_t> out;
  for (size_t i = 0; i < size; ++i) {
    if (i < 24 || i + 40 >= size || i % 7 == 0) out.push_back(i);
  }
  return out;
}

class SemanticIndexFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/semantic_index_file_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ + "/index.bin";
    EmbedderOptions eo;
    eo.dimensions = 64;  // a small file: many of its bytes are flipped below
    embedder_ = std::shared_ptr<const Embedder>(std::move(*MakeEmbedder(eo)));
    cache_ = std::make_unique<SemanticCache>(SemanticCacheOptions{}, embedder_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  PersistedEntry Entry(uint8_t id, std::string question, bool orphan) {
    PersistedEntry e;
    e.key.bytes.fill(id);
    e.partition.fill(static_cast<uint8_t>(id + 100));
    e.pool.fill(static_cast<uint8_t>(id + 7));
    e.orphan = orphan;
    e.question = std::move(question);
    EXPECT_TRUE(embedder_->Embed(e.question, &e.vector).ok());
    return e;
  }
  // Two entries, one with verification evidence, saved to path_.
  std::vector<PersistedEntry> SaveTwo() {
    std::vector<PersistedEntry> entries;
    entries.push_back(Entry(1, "How tall is Mount Everest?", false));
    entries.push_back(Entry(2, "What is a monad?", true));
    entries[0].observations = {{0.91f, true}, {0.85f, false}};
    EXPECT_TRUE(cache_->Restore(entries).ok());
    EXPECT_TRUE(SaveSemanticIndex(*cache_, path_).ok());
    return entries;
  }
  StatusOr<std::vector<PersistedEntry>> Load() { return LoadSemanticIndex(path_, "lexical", 64); }

  std::string dir_;
  std::string path_;
  std::shared_ptr<const Embedder> embedder_;
  std::unique_ptr<SemanticCache> cache_;
};

TEST_F(SemanticIndexFileTest, RoundTripKeepsEveryField) {
  const std::vector<PersistedEntry> saved = SaveTwo();
  StatusOr<std::vector<PersistedEntry>> loaded = Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 2u);
  for (const PersistedEntry& want : saved) {
    auto got = std::find_if(loaded->begin(), loaded->end(),
                            [&](const PersistedEntry& e) { return e.key == want.key; });
    ASSERT_NE(got, loaded->end());
    EXPECT_EQ(got->partition, want.partition);
    EXPECT_EQ(got->pool, want.pool);
    EXPECT_EQ(got->orphan, want.orphan);
    EXPECT_EQ(got->question, want.question);
    EXPECT_EQ(got->vector, want.vector);
    ASSERT_EQ(got->observations.size(), want.observations.size());
    for (size_t i = 0; i < want.observations.size(); ++i) {
      EXPECT_EQ(got->observations[i].similarity, want.observations[i].similarity);
      EXPECT_EQ(got->observations[i].correct, want.observations[i].correct);
    }
  }
  // The container's temporary file was renamed over the target: nothing else is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  // Saving again replaces the file.
  ASSERT_TRUE(cache_->Remove(saved[1].key));
  ASSERT_TRUE(SaveSemanticIndex(*cache_, path_).ok());
  ASSERT_EQ(Load()->size(), 1u);
}

TEST_F(SemanticIndexFileTest, TruncationIsDataLoss) {
  SaveTwo();
  const std::string bytes = ReadAll(path_);
  ASSERT_GT(bytes.size(), 200u);
  for (size_t len : Positions(bytes.size())) {
    WriteAll(path_, bytes.substr(0, len));
    EXPECT_EQ(Load().status().code(), StatusCode::kDataLoss) << "length " << len;
  }
}

TEST_F(SemanticIndexFileTest, FlippedByteIsDataLoss) {
  SaveTwo();
  const std::string bytes = ReadAll(path_);
  for (size_t i : Positions(bytes.size())) {
    std::string altered = bytes;
    altered[i] = static_cast<char>(altered[i] ^ 0x20);
    WriteAll(path_, altered);
    EXPECT_EQ(Load().status().code(), StatusCode::kDataLoss) << "byte " << i;
  }
}

TEST_F(SemanticIndexFileTest, AnotherEmbeddersFileIsFailedPrecondition) {
  SaveTwo();
  EXPECT_EQ(LoadSemanticIndex(path_, "static", 64).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(LoadSemanticIndex(path_, "lexical", 256).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(SemanticIndexFileTest, OtherFormatsAreDataLossAndNoFileIsNotFound) {
  EXPECT_EQ(Load().status().code(), StatusCode::kNotFound);
  // The format before the shared container.
  WriteAll(path_, std::string("DEJASEM1") + std::string(120, '\x01'));
  EXPECT_EQ(Load().status().code(), StatusCode::kDataLoss);
  // An intact vector index file in the container is not the semantic cache.
  auto writer = vindex::IndexFileWriter::Create(path_, vindex::IndexKind::kFlat, 64);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->WriteU64(0).ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(Load().status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace deja::semantic
