#include "server/semantic_eval.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "server/semantic_eval_run.h"

namespace deja::server {
namespace {

TEST(ParseEvalPairsTest, ReadsLinesAndSkipsBlankOnes) {
  StatusOr<std::vector<EvalPair>> pairs = ParseEvalPairs(
      "{\"a\": \"x?\", \"b\": \"y?\", \"label\": 1}\n\n{\"a\":\"p\",\"b\":\"q\",\"label\":0,"
      "\"id\":7}\r\n");
  ASSERT_TRUE(pairs.ok()) << pairs.status().ToString();
  ASSERT_EQ(pairs->size(), 2u);
  EXPECT_EQ((*pairs)[0].a, "x?");
  EXPECT_EQ((*pairs)[0].b, "y?");
  EXPECT_TRUE((*pairs)[0].duplicate);
  EXPECT_FALSE((*pairs)[1].duplicate);
}

TEST(ParseEvalPairsTest, NamesTheBadLine) {
  StatusOr<std::vector<EvalPair>> pairs = ParseEvalPairs(
      "{\"a\":\"x\",\"b\":\"y\",\"label\":1}\n{\"a\":\"x\",\"b\":\"y\",\"label\":2}\n");
  ASSERT_FALSE(pairs.ok());
  EXPECT_EQ(pairs.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pairs.status().message().find("line 2"), std::string::npos);
  EXPECT_FALSE(ParseEvalPairs("{\"a\":\"x\",\"label\":1}\n").ok());
  EXPECT_FALSE(ParseEvalPairs("not json\n").ok());
}

std::vector<EvalPair> Numbered(int n) {
  std::vector<EvalPair> out;
  for (int i = 0; i < n; ++i)
    out.push_back({std::string("a").append(std::to_string(i)), "b", false});
  return out;
}

TEST(SelectEvalPairsTest, DeterministicShuffledPrefix) {
  const std::vector<EvalPair> one = SelectEvalPairs(Numbered(100), 10, 7);
  const std::vector<EvalPair> again = SelectEvalPairs(Numbered(100), 10, 7);
  const std::vector<EvalPair> other = SelectEvalPairs(Numbered(100), 10, 8);
  ASSERT_EQ(one.size(), 10u);
  bool same = true, differs = false, shuffled = false;
  for (size_t i = 0; i < one.size(); ++i) {
    same = same && one[i].a == again[i].a;
    differs = differs || one[i].a != other[i].a;
    shuffled = shuffled || one[i].a != std::string("a").append(std::to_string(i));
  }
  EXPECT_TRUE(same);
  EXPECT_TRUE(differs);
  EXPECT_TRUE(shuffled);
  // Without a limit: a permutation of the input.
  std::vector<EvalPair> all = SelectEvalPairs(Numbered(100), 0, 7);
  ASSERT_EQ(all.size(), 100u);
  std::vector<std::string> names;
  for (const EvalPair& p : all) names.push_back(p.a);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
}

TEST(AnswerGroupsTest, DuplicateChainsShareAnAnswer) {
  const std::vector<EvalPair> pairs = {{"q1", "q2", true},
                                       {"q2", "q3", true},
                                       {"q1", "q3", false},  // conflict: 1 ~ 3 via 2
                                       {"q4", "q1", false},
                                       {"q5", "q5b", true}};
  const AnswerGroups truth(pairs);
  EXPECT_EQ(truth.questions(), 6u);
  EXPECT_EQ(truth.groups(), 3u);
  EXPECT_EQ(truth.GroupOf("q1"), truth.GroupOf("q3"));
  EXPECT_EQ(truth.AnswerFor("q1"), truth.AnswerFor("q2"));
  EXPECT_NE(truth.AnswerFor("q1"), truth.AnswerFor("q4"));
  EXPECT_NE(truth.AnswerFor("q4"), truth.AnswerFor("q5"));
  EXPECT_EQ(truth.AnswerFor("q5"), truth.AnswerFor("q5b"));
  EXPECT_EQ(truth.GroupOf("never asked"), -1);
  EXPECT_NE(truth.AnswerFor("never asked"), truth.AnswerFor("q1"));
  EXPECT_EQ(truth.LabelConflicts(pairs), 1u);
}

TEST(AnswerGroupsTest, SurfaceVariantsAreOneQuestion) {
  const std::vector<EvalPair> pairs = {{"A man is doing push-ups.", "x", false},
                                       {"a man is doing push ups ", "y", false},
                                       {"What is C++?", "What is C?", false}};
  const AnswerGroups truth(pairs);
  EXPECT_EQ(truth.GroupOf("A man is doing push-ups."), truth.GroupOf("a man is doing push ups "));
  EXPECT_NE(truth.GroupOf("What is C++?"), truth.GroupOf("What is C?"));
  EXPECT_NE(truth.GroupOf("x"), truth.GroupOf("y"));
  EXPECT_EQ(truth.surface_merges(), 1u);
  EXPECT_EQ(truth.LabelConflicts(pairs), 0u);
}

TEST(ParseThresholdsTest, RangesAndLists) {
  StatusOr<std::vector<double>> range = ParseThresholds("0.5:0.99:0.01");
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->size(), 50u);
  EXPECT_DOUBLE_EQ(range->front(), 0.5);
  EXPECT_DOUBLE_EQ(range->back(), 0.99);
  EXPECT_DOUBLE_EQ((*range)[30], 0.8);
  StatusOr<std::vector<double>> list = ParseThresholds("0.02, 0.05");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<double>{0.02, 0.05}));
  EXPECT_FALSE(ParseThresholds("0.9:0.5:0.1").ok());
  EXPECT_FALSE(ParseThresholds("0.5:0.9:0").ok());
  EXPECT_FALSE(ParseThresholds("1.5").ok());
  EXPECT_FALSE(ParseThresholds("x").ok());
}

EvalObservation Hit(double similarity, bool correct) {
  EvalObservation o;
  o.semantic_hit = true;
  o.similarity = similarity;
  o.correct = correct;
  o.reachable = correct;
  return o;
}

TEST(ComputeCurveTest, CountsHitsAtOrAboveEachThreshold) {
  EvalObservation reachable_miss;
  reachable_miss.reachable = true;
  EvalObservation cross = Hit(0.8, false);
  cross.cross_match = true;
  const std::vector<EvalObservation> obs = {Hit(0.95, true),   Hit(0.9, true),   cross,
                                            Hit(0.7, true),    Hit(0.6, false),  reachable_miss,
                                            EvalObservation{}, EvalObservation{}};
  const std::vector<double> thresholds = {0.5, 0.8, 0.85, 0.999};
  const std::vector<CurvePoint> curve = ComputeCurve(obs, thresholds);
  ASSERT_EQ(curve.size(), 4u);
  EXPECT_EQ(curve[0].hits, 5);
  EXPECT_EQ(curve[0].false_hits, 2);
  EXPECT_DOUBLE_EQ(curve[0].hit_rate, 5.0 / 8);
  EXPECT_DOUBLE_EQ(curve[0].false_hit_rate, 2.0 / 5);
  EXPECT_DOUBLE_EQ(curve[0].false_hits_per_request, 2.0 / 8);
  EXPECT_DOUBLE_EQ(curve[0].recall, 3.0 / 4);
  EXPECT_EQ(curve[1].hits, 3);  // 0.8 itself counts
  EXPECT_DOUBLE_EQ(curve[1].false_hit_rate, 1.0 / 3);
  EXPECT_EQ(curve[1].cross_hits, 1);
  EXPECT_EQ(curve[1].cross_false_hits, 1);
  EXPECT_EQ(curve[2].cross_hits, 0);
  EXPECT_EQ(curve[2].hits, 2);
  EXPECT_EQ(curve[2].false_hits, 0);
  EXPECT_DOUBLE_EQ(curve[2].recall, 2.0 / 4);
  EXPECT_EQ(curve[3].hits, 0);
  EXPECT_DOUBLE_EQ(curve[3].false_hit_rate, 0);

  std::optional<CurvePoint> best = BestUnder(curve, 0.05);
  ASSERT_TRUE(best.has_value());
  EXPECT_DOUBLE_EQ(best->threshold, 0.85);
  best = BestUnder(curve, 0.35);
  ASSERT_TRUE(best.has_value());
  EXPECT_DOUBLE_EQ(best->threshold, 0.8);
  EXPECT_FALSE(BestUnder(ComputeCurve(obs, std::vector<double>{0.5, 0.999}), 0.1).has_value());

  std::optional<CurvePoint> lowest = LowestFalseHitRate(curve, 3);
  ASSERT_TRUE(lowest.has_value());
  EXPECT_DOUBLE_EQ(lowest->threshold, 0.8);  // 1 in 3; 0.85 has fewer than 3 hits
  EXPECT_DOUBLE_EQ(LowestFalseHitRate(curve, 1)->threshold, 0.85);
  EXPECT_FALSE(LowestFalseHitRate(curve, 6).has_value());
}

// The gateway end to end (lexical embedder, no files needed).
class SemanticEvalRunTest : public ::testing::Test {
 protected:
  const std::string kListA = "How do I reverse a list in Python?";
  const std::string kListB = "how do I reverse a list in python";
  const std::string kListC = "How can I reverse a Python list?";
  const std::string kGuitar = "How do I learn to play the guitar quickly?";
  const std::string kPiano = "How do I learn to play the piano quickly?";
  const std::string kBread = "What is the best way to bake sourdough bread at home?";
  const std::string kTax = "Which documents do I need to file a tax return?";
};

TEST_F(SemanticEvalRunTest, JudgesHitsByTheProvidersAnswers) {
  const std::vector<EvalPair> pairs = {{kListA, kListB, true}, {kGuitar, kPiano, false}};
  const AnswerGroups truth(pairs);
  SemanticEvalOptions o;
  o.shared_context = false;
  o.lowest_threshold = 0.3;
  StatusOr<SemanticEvalRun> run = RunSemanticEval(pairs, truth, o);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->embedder, "lexical");
  ASSERT_EQ(run->observations.size(), 2u);
  EXPECT_EQ(run->errors, 0);
  EXPECT_EQ(run->a_misses, 2);
  EXPECT_EQ(run->a_admitted, 2);
  // A rewording of the same question: served, and right.
  EXPECT_TRUE(run->observations[0].semantic_hit);
  EXPECT_TRUE(run->observations[0].correct);
  EXPECT_TRUE(run->observations[0].reachable);
  EXPECT_GT(run->observations[0].similarity, 0.8);
  // A different question in similar words: served (nothing catches it), and wrong.
  EXPECT_TRUE(run->observations[1].semantic_hit);
  EXPECT_FALSE(run->observations[1].correct);
  EXPECT_FALSE(run->observations[1].reachable);
  EXPECT_FALSE(run->observations[1].cross_match);
  EXPECT_EQ(run->observations[1].matched_pair, 1);
  ASSERT_EQ(run->false_hit_examples.size(), 1u);
  EXPECT_EQ(run->false_hit_examples[0].question, kPiano);
  EXPECT_EQ(run->false_hit_examples[0].matched, kGuitar);
  EXPECT_EQ(run->b_semantic_hits, 2);
  EXPECT_EQ(run->index_entries, 2);  // b questions are never stored

  const std::vector<double> thresholds = {0.3};
  const std::vector<double> targets = {0.05};
  json::Value report = EvalRunToJson(*run, thresholds, targets);
  EXPECT_EQ(report.GetString("context"), "isolated");
  ASSERT_NE(report.Find("curve"), nullptr);
  EXPECT_EQ(report.Find("curve")->as_array().size(), 1u);
  EXPECT_TRUE(report.Find("best")->Find("0.05")->is_null());  // 1 false hit in 2
}

TEST_F(SemanticEvalRunTest, SharedContextMatchesOtherPairs) {
  // kListC duplicates kListA only through a pair outside the sample.
  const std::vector<EvalPair> sample = {{kListA, kBread, false}, {kTax, kListC, false}};
  std::vector<EvalPair> file = sample;
  file.push_back({kListA, kListC, true});
  const AnswerGroups truth(file);
  SemanticEvalOptions o;
  o.lowest_threshold = 0.3;
  StatusOr<SemanticEvalRun> shared = RunSemanticEval(sample, truth, o);
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  ASSERT_EQ(shared->observations.size(), 2u);
  EXPECT_TRUE(shared->observations[1].semantic_hit);
  EXPECT_TRUE(shared->observations[1].correct);  // answered with kListA's entry
  EXPECT_TRUE(shared->observations[1].reachable);
  EXPECT_TRUE(shared->observations[1].cross_match);
  EXPECT_EQ(shared->observations[1].matched_pair, 0);

  o.shared_context = false;
  StatusOr<SemanticEvalRun> isolated = RunSemanticEval(sample, truth, o);
  ASSERT_TRUE(isolated.ok()) << isolated.status().ToString();
  EXPECT_FALSE(isolated->observations[1].correct);  // only kTax is in its context
  EXPECT_FALSE(isolated->observations[1].reachable);
}

TEST(SummarizeVerifiedTest, RatesOverallAndPerPartInStreamOrder) {
  std::vector<EvalObservation> obs(8);
  obs[0].verified = obs[1].verified = obs[2].verified = true;  // first half: learning
  for (int i = 4; i < 8; ++i) {
    obs[i].semantic_hit = true;
    obs[i].correct = i != 7;
  }
  const VerifiedSummary v = SummarizeVerified(obs, 2);
  EXPECT_EQ(v.total.requests, 8);
  EXPECT_EQ(v.total.served, 4);
  EXPECT_EQ(v.total.false_hits, 1);
  EXPECT_EQ(v.total.verified, 3);
  EXPECT_DOUBLE_EQ(v.total.hit_rate, 0.5);
  EXPECT_DOUBLE_EQ(v.total.false_hit_rate, 0.25);
  EXPECT_DOUBLE_EQ(v.total.false_per_lookup, 1.0 / 7);
  ASSERT_EQ(v.segments.size(), 2u);
  EXPECT_EQ(v.segments[0].served, 0);
  EXPECT_EQ(v.segments[0].verified, 3);
  EXPECT_DOUBLE_EQ(v.segments[1].hit_rate, 1);
  EXPECT_EQ(SummarizeVerified({}, 4).total.requests, 0);
}

TEST_F(SemanticEvalRunTest, WithVerificationOnTheCacheLearnsBeforeItServes) {
  // Every pair a rewording with the same answer, each in its own context: no entry is asked twice,
  // so whatever is served is served on the pooled evidence of the earlier pairs.
  std::vector<EvalPair> pairs;
  for (int i = 0; i < 120; ++i) {
    const std::string n = std::to_string(1000 + i);
    pairs.push_back({"What is the status of order " + n + " in the warehouse?",
                     "what is the status of order " + n + " in the warehouse", true});
  }
  const AnswerGroups truth(pairs);
  SemanticEvalOptions o;
  o.shared_context = false;
  o.lowest_threshold = 0.7;
  o.max_false_hit_rate = 0.05;
  o.audit_rate = 0;
  StatusOr<SemanticEvalRun> run = RunSemanticEval(pairs, truth, o);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->false_hit_bound, "served");
  const VerifiedSummary v = SummarizeVerified(run->observations, 4);
  // ~73 agreeing verifications before the pooled bound clears 0.05, then served.
  EXPECT_GE(v.total.verified, 70);
  EXPECT_GE(v.total.served, 20);
  EXPECT_EQ(v.total.served + v.total.verified, 120);
  EXPECT_EQ(v.total.false_hits, 0);
  EXPECT_EQ(v.segments.front().served, 0);
  EXPECT_EQ(v.segments.back().served, 30);
  EXPECT_EQ(run->pooled_observations, v.total.verified);
  json::Value report = EvalRunToJson(*run, std::vector<double>{0.7}, std::vector<double>{0.05});
  ASSERT_NE(report.Find("verified"), nullptr);
  EXPECT_EQ(report.Find("verified")->Find("served")->as_number(), v.total.served);
  EXPECT_EQ(report.Find("verified_by_quarter")->as_array().size(), 4u);
  EXPECT_EQ(report.Find("curve"), nullptr);  // one point, not a curve
}

}  // namespace
}  // namespace deja::server
