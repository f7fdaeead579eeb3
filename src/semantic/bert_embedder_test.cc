// The bert embedder against src/semantic/testdata/bert-tiny: a random-weight BERT (hidden 32,
// 2 layers, 4 heads) whose reference embeddings scripts/make_bert_fixture.py computed in PyTorch
// (float64, one padded batch with an attention mask). Every text must match to 1e-4 (max abs
// difference), and its token ids exactly; variants of the model directory (vocab.txt only, other
// pooling modes, tanh GELU, "bert."-prefixed weights) are made in temporary copies.
#include "semantic/bert_embedder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "semantic/embedder.h"
#include "semantic/model_dir.h"

namespace deja::semantic {
namespace {

namespace fs = std::filesystem;

const std::string kFixture = std::string(DEJA_SOURCE_DIR) + "/src/semantic/testdata/bert-tiny";

struct Reference {
  std::string text;
  std::vector<uint32_t> ids;
  json::Value embeddings;  // {"mean": [...], "cls": [...], "max": [...], "mean_gelu_tanh": [...]}
};

std::vector<Reference> LoadReference() {
  StatusOr<json::Value> doc = ReadJsonFile(kFixture + "/reference.json");
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  std::vector<Reference> refs;
  if (!doc.ok()) return refs;
  for (const json::Value& t : doc->Find("texts")->as_array()) {
    Reference r;
    r.text = t.Find("text")->as_string();
    for (const json::Value& id : t.Find("ids")->as_array()) {
      r.ids.push_back(static_cast<uint32_t>(id.as_number()));
    }
    r.embeddings = *t.Find("embeddings");
    refs.push_back(std::move(r));
  }
  return refs;
}

std::vector<float> Vector(const json::Value& v) {
  std::vector<float> out;
  for (const json::Value& x : v.as_array()) out.push_back(static_cast<float>(x.as_number()));
  return out;
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  }
  return worst;
}

// A fresh copy of the fixture in a temporary directory, to modify; removed when it goes out of
// scope.
class FixtureCopy {
 public:
  explicit FixtureCopy(const std::string& name)
      : dir_(testing::TempDir() + "/deja_bert_" + std::to_string(::getpid()) + "_" + name) {
    fs::remove_all(dir_);
    fs::copy(kFixture, dir_, fs::copy_options::recursive);
  }
  ~FixtureCopy() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary)
      .write(text.data(), static_cast<std::streamsize>(text.size()));
}

// Replaces `from` with `to` in the file at `path` (which must contain it).
void Edit(const std::string& path, const std::string& from, const std::string& to) {
  StatusOr<std::string> text = ReadTextFile(path);
  ASSERT_TRUE(text.ok());
  const size_t at = text->find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << path;
  text->replace(at, from.size(), to);
  WriteFile(path, *text);
}

std::unique_ptr<Embedder> Load(const std::string& dir) {
  StatusOr<std::unique_ptr<Embedder>> e = LoadBertEmbedder(dir);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

// Every reference text: same ids, embedding within 1e-4 of reference variant `variant`.
void ExpectMatchesReference(const std::string& dir, const std::string& variant,
                            bool check_ids = true) {
  auto e = Load(dir);
  ASSERT_NE(e, nullptr);
  const std::vector<Reference> refs = LoadReference();
  ASSERT_EQ(refs.size(), 10u);
  for (const Reference& r : refs) {
    if (check_ids) {
      EXPECT_EQ(BertEmbedderTokenIds(*e, r.text), r.ids) << r.text;
    }
    std::vector<float> v;
    ASSERT_TRUE(e->Embed(r.text, &v).ok());
    EXPECT_LT(MaxAbsDiff(v, Vector(*r.embeddings.Find(variant))), 1e-4f)
        << variant << ": " << r.text;
  }
}

TEST(BertEmbedderTest, MatchesPyTorchReference) {
  ExpectMatchesReference(kFixture, "mean");
  auto e = Load(kFixture);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name(), "bert");
  EXPECT_EQ(e->dimensions(), 32);
}

TEST(BertEmbedderTest, OverLongInputIsTruncatedToMaxSeqLength) {
  auto e = Load(kFixture);
  ASSERT_NE(e, nullptr);
  const std::vector<Reference> refs = LoadReference();
  ASSERT_FALSE(refs.empty());
  const Reference& longest = refs.back();
  EXPECT_EQ(longest.ids.size(), 24u);  // sentence_bert_config.json: max_seq_length 24.
  // Words past the limit change nothing.
  std::vector<float> a, b;
  ASSERT_TRUE(e->Embed(longest.text, &a).ok());
  ASSERT_TRUE(e->Embed(longest.text + " and many more words after that", &b).ok());
  EXPECT_EQ(a, b);
  EXPECT_EQ(BertEmbedderTokenIds(*e, longest.text + " more").size(), 24u);
}

TEST(BertEmbedderTest, VocabTxtAloneGivesTheSameResults) {
  const FixtureCopy dir_copy("vocab_only");
  const std::string& dir = dir_copy.path();
  fs::remove(dir + "/tokenizer.json");
  ExpectMatchesReference(dir, "mean");
}

TEST(BertEmbedderTest, PoolingModesFromTheConfig) {
  const FixtureCopy dir_copy("pooling");
  const std::string& dir = dir_copy.path();
  const std::string pooling = dir + "/1_Pooling/config.json";
  Edit(pooling, "\"pooling_mode_mean_tokens\": true", "\"pooling_mode_mean_tokens\": false");
  Edit(pooling, "\"pooling_mode_cls_token\": false", "\"pooling_mode_cls_token\": true");
  ExpectMatchesReference(dir, "cls", /*check_ids=*/false);
  Edit(pooling, "\"pooling_mode_cls_token\": true", "\"pooling_mode_cls_token\": false");
  Edit(pooling, "\"pooling_mode_max_tokens\": false", "\"pooling_mode_max_tokens\": true");
  ExpectMatchesReference(dir, "max", /*check_ids=*/false);
}

TEST(BertEmbedderTest, ConcatenatedPoolingModes) {
  const FixtureCopy dir_copy("concat");
  const std::string& dir = dir_copy.path();
  Edit(dir + "/1_Pooling/config.json", "\"pooling_mode_cls_token\": false",
       "\"pooling_mode_cls_token\": true");
  auto e = Load(dir);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dimensions(), 64);  // cls then mean, normalized together.
  const Reference r = LoadReference()[1];
  std::vector<float> v;
  ASSERT_TRUE(e->Embed(r.text, &v).ok());
  std::vector<float> expected = Vector(*r.embeddings.Find("cls"));
  for (float x : Vector(*r.embeddings.Find("mean"))) expected.push_back(x);
  // Both halves are unit vectors in the reference; concatenated and normalized, each is scaled
  // by 1/sqrt(2) (pooled vectors have different norms in the model, so compare directions).
  std::vector<float> cls(v.begin(), v.begin() + 32), mean(v.begin() + 32, v.end());
  L2Normalize(&cls);
  L2Normalize(&mean);
  cls.insert(cls.end(), mean.begin(), mean.end());
  EXPECT_LT(MaxAbsDiff(cls, expected), 1e-4f);
}

TEST(BertEmbedderTest, TanhGelu) {
  const FixtureCopy dir_copy("gelu_new");
  const std::string& dir = dir_copy.path();
  Edit(dir + "/config.json", "\"hidden_act\": \"gelu\"", "\"hidden_act\": \"gelu_new\"");
  ExpectMatchesReference(dir, "mean_gelu_tanh", /*check_ids=*/false);
}

TEST(BertEmbedderTest, WithoutSentenceTransformersFilesPoolsMean) {
  const FixtureCopy dir_copy("plain");
  const std::string& dir = dir_copy.path();
  fs::remove(dir + "/modules.json");
  fs::remove_all(dir + "/1_Pooling");
  ExpectMatchesReference(dir, "mean");
}

TEST(BertEmbedderTest, AcceptsBertPrefixedWeightNames) {
  const FixtureCopy dir_copy("prefixed");
  const std::string& dir = dir_copy.path();
  const std::string path = dir + "/model.safetensors";
  StatusOr<std::string> bytes = ReadTextFile(path);
  ASSERT_TRUE(bytes.ok());
  uint64_t len;
  std::memcpy(&len, bytes->data(), 8);
  StatusOr<json::Value> header = json::Parse(bytes->substr(8, len));
  ASSERT_TRUE(header.ok());
  json::Value renamed = json::Value::MakeObject();
  for (auto& [name, v] : header->as_object()) {
    renamed.Set(name == "__metadata__" ? name : "bert." + name, v);
  }
  std::string text = json::Write(renamed);
  while (text.size() % 8 != 0) text.push_back(' ');
  const uint64_t new_len = text.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &new_len, 8);
  WriteFile(path, out + text + bytes->substr(8 + len));
  ExpectMatchesReference(dir, "mean");
}

TEST(BertEmbedderTest, ConcurrentCallersAndBatchesOfVariedLengths) {
  EmbedderOptions o;
  o.kind = "bert";
  o.model_dir = kFixture;
  StatusOr<std::unique_ptr<Embedder>> e = MakeEmbedder(o);  // With the memo.
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const std::vector<Reference> refs = LoadReference();
  std::vector<std::string_view> texts;
  for (const Reference& r : refs) texts.push_back(r.text);
  std::vector<std::vector<float>> batch;
  ASSERT_TRUE((*e)->EmbedBatch(texts, &batch).ok());
  ASSERT_EQ(batch.size(), refs.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    EXPECT_LT(MaxAbsDiff(batch[i], Vector(*refs[i].embeddings.Find("mean"))), 1e-4f);
  }
  // Four threads embed the texts in different orders, bypassing the memo.
  auto raw = Load(kFixture);
  ASSERT_NE(raw, nullptr);
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> v;
      for (size_t k = 0; k < 3 * refs.size(); ++k) {
        const size_t i = (k * (t + 1) + t) % refs.size();
        if (!raw->Embed(refs[i].text, &v).ok() ||
            MaxAbsDiff(v, Vector(*refs[i].embeddings.Find("mean"))) >= 1e-4f) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_THAT(failures, testing::Each(0));
}

TEST(BertEmbedderTest, NothingToEmbedGivesTheZeroVector) {
  auto e = Load(kFixture);
  ASSERT_NE(e, nullptr);
  for (const char* text : {"", "   \t\n", "\xF0\x9F\x99\x82 \xF0\x9F\x99\x83"}) {
    std::vector<float> v;
    ASSERT_TRUE(e->Embed(text, &v).ok());
    EXPECT_THAT(v, testing::Each(0.0f)) << text;
    EXPECT_EQ(v.size(), 32u);
  }
}

TEST(BertEmbedderTest, Errors) {
  auto missing = LoadBertEmbedder(testing::TempDir() + "/no-such-bert-model");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  const FixtureCopy act_copy("bad_act");
  const std::string& act = act_copy.path();
  Edit(act + "/config.json", "\"hidden_act\": \"gelu\"", "\"hidden_act\": \"swish\"");
  auto a = LoadBertEmbedder(act);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(a.status().message(), testing::HasSubstr("swish"));

  const FixtureCopy shape_copy("bad_shape");
  const std::string& shape = shape_copy.path();
  Edit(shape + "/config.json", "\"intermediate_size\": 64", "\"intermediate_size\": 48");
  auto s = LoadBertEmbedder(shape);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(s.status().message(), testing::HasSubstr("intermediate.dense.weight"));

  const FixtureCopy dense_copy("dense");
  const std::string& dense = dense_copy.path();
  Edit(dense + "/modules.json", "sentence_transformers.models.Normalize",
       "sentence_transformers.models.Dense");
  auto d = LoadBertEmbedder(dense);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kUnimplemented);

  EmbedderOptions o;
  o.kind = "bert";
  EXPECT_EQ(MakeEmbedder(o).status().code(), StatusCode::kInvalidArgument);  // No model_dir.
}

}  // namespace
}  // namespace deja::semantic
