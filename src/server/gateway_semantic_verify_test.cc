// semantic.verify modes through the real gateway (GatewayFixture): how a would-be semantic hit's
// cached answer is compared with the fresh one when the vCache policy verifies it (SameAnswer,
// answer_compare.h). The "structured" default is covered by gateway_semantic_test.cc.
#include <atomic>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "semantic/embedder.h"
#include "semantic/semantic_cache.h"
#include "server/gateway.h"
#include "server/gateway_test_util.h"
#include "server/semantic_gateway_test_util.h"
#include "server/semantic_setup.h"

namespace deja::server {
namespace {

using testing::ClientResponse;

constexpr char kQuestion[] = "What is the capital city of France?";
constexpr char kReworded[] = "Tell me the capital city of France";
constexpr int kAsks = 6;

using testing::ChatBody;

// The lexical embedder, failing on the fake provider's answers ("answer to ...") once `fail` is
// set: questions still embed, so only the verification's answer comparison fails.
class AnswerFailingEmbedder : public semantic::Embedder {
 public:
  AnswerFailingEmbedder() {
    semantic::EmbedderOptions o;
    o.kind = "lexical";
    inner_ = std::move(*semantic::MakeEmbedder(o));
  }
  std::string_view name() const override { return inner_->name(); }
  int dimensions() const override { return inner_->dimensions(); }
  Status Embed(std::string_view text, std::vector<float>* out) const override {
    if (fail.load() && text.rfind("answer to", 0) == 0) return UnavailableError("embedder down");
    return inner_->Embed(text, out);
  }
  std::atomic<bool> fail{false};

 private:
  std::unique_ptr<semantic::Embedder> inner_;
};

class GatewaySemanticVerifyTest : public testing::SemanticGatewayFixture {
 protected:
  // Every would-be hit of a new entry is verified (delta 0.01 leaves no room to serve unproven).
  static GatewayOptions Options(const std::string& verify, double answer_similarity = 0.9) {
    GatewayOptions o = SemanticOptions(/*max_false_hit_rate=*/0.01);
    o.semantic.verify = verify;
    o.semantic.answer_similarity = answer_similarity;
    return o;
  }
  // Caches kQuestion's answer, then asks the reworded question kAsks times (never stored).
  void AskRewordedRepeatedly(const std::string& model) {
    EXPECT_EQ(Chat(ChatBody(kQuestion, model)).Header("X-Deja-Cache"), "miss");
    for (int i = 0; i < kAsks; ++i) {
      ClientResponse r = Chat(ChatBody(kReworded, model), {{"Cache-Control", "no-store"}});
      EXPECT_EQ(r.code, 200);
    }
  }
  int64_t Verifications(SemanticMetrics::Counter c) const {
    return gateway_->semantic_metrics().Get(c);
  }
};

TEST_F(GatewaySemanticVerifyTest, ExactCountsTheSameTextCorrect) {
  Start(Options("exact"));
  AskRewordedRepeatedly("constant");
  EXPECT_GE(Verifications(SemanticMetrics::kCorrect), 1);
  EXPECT_EQ(Verifications(SemanticMetrics::kWrong), 0);
  EXPECT_EQ(Verifications(SemanticMetrics::kUncomparable), 0);
}

TEST_F(GatewaySemanticVerifyTest, ExactCountsAnyOtherTextWrong) {
  Start(Options("exact"));
  // "answer to <question> #n": close in meaning, never the same text.
  AskRewordedRepeatedly("varying");
  EXPECT_EQ(Verifications(SemanticMetrics::kCorrect), 0);
  EXPECT_GE(Verifications(SemanticMetrics::kWrong), 1);
  EXPECT_EQ(Verifications(SemanticMetrics::kUncomparable), 0);
  EXPECT_EQ(gateway_->metrics().errors(ErrorKind::kEmbedder), 0);
}

TEST_F(GatewaySemanticVerifyTest, EmbeddingAcceptsASimilarTextAboveAnswerSimilarity) {
  Start(Options("embedding", /*answer_similarity=*/0.3));
  AskRewordedRepeatedly("varying");
  EXPECT_GE(Verifications(SemanticMetrics::kCorrect), 1);
  EXPECT_EQ(Verifications(SemanticMetrics::kWrong), 0);
  EXPECT_EQ(Verifications(SemanticMetrics::kUncomparable), 0);
}

TEST_F(GatewaySemanticVerifyTest, EmbeddingRejectsTextsBelowAnswerSimilarity) {
  Start(Options("embedding", /*answer_similarity=*/0.999));
  AskRewordedRepeatedly("varying");
  EXPECT_EQ(Verifications(SemanticMetrics::kCorrect), 0);
  EXPECT_GE(Verifications(SemanticMetrics::kWrong), 1);
}

TEST_F(GatewaySemanticVerifyTest, EmbeddingFailureIsUncomparableAndCounted) {
  auto embedder = std::make_shared<AnswerFailingEmbedder>();
  embedder_ = embedder;
  Start(Options("embedding", /*answer_similarity=*/0.3));
  EXPECT_EQ(Chat(ChatBody(kQuestion, "varying")).Header("X-Deja-Cache"), "miss");
  embedder->fail = true;
  int verified = 0;
  for (int i = 0; i < kAsks; ++i) {
    ClientResponse r = Chat(ChatBody(kReworded, "varying"), {{"Cache-Control", "no-store"}});
    EXPECT_EQ(r.code, 200);
    verified += r.Header("X-Deja-Cache") == "semantic-verify";
  }
  EXPECT_GE(verified, 1);
  EXPECT_EQ(Verifications(SemanticMetrics::kUncomparable), verified);
  EXPECT_EQ(Verifications(SemanticMetrics::kCorrect) + Verifications(SemanticMetrics::kWrong), 0);
  EXPECT_EQ(gateway_->metrics().errors(ErrorKind::kEmbedder), verified);
}

TEST_F(GatewaySemanticVerifyTest, UnknownVerifyModeIsRejected) {
  GatewayOptions o = Options("fuzzy");
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deja::server
