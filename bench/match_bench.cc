// CPU cost of the semantic cache's matching rules for a 20-word question (src/semantic:
// semantic_query.h, guards.h, answer_template.h), i.e. what a semantic lookup adds besides the
// embedding and the vector search.
//
// Reference: BM_WriteCanonical_Ref, json::WriteCanonical of the same normalized chat request:
// work every exact-cache lookup already does, so `vs ref` reads as "how many canonicalizations".
// Target (median CPU time, counter target_ns, set for the 2-vCPU development VMs): the whole
// BM_MatchPipeline at most 20 µs.
//   BM_QuerySplit       SplitSemanticQuery on the request (system prompt, one earlier exchange,
//                       the question): copy, placeholder, canonical bytes, BLAKE3 signature
//   BM_GuardFeatures    ExtractGuardFeatures of the question alone
//   BM_GuardCheck       GuardCheck of the question against a rewording (both extracted)
//   BM_TemplateFill     MakeTemplate(cached question, answer) + FillTemplate for a new order id
//   BM_MatchPipeline    all of the above once, as a lookup would run them
#include <benchmark/benchmark.h>

#include <string>

#include "core/json.h"
#include "semantic/answer_template.h"
#include "semantic/guards.h"
#include "semantic/semantic_query.h"

namespace {

using namespace deja::semantic;  // NOLINT

// 20 words each.
const std::string kQuestion =
    "Can you tell me what the status of order 12345 is and whether it ships to New York by "
    "Friday?";
const std::string kReworded =
    "Could you tell me the status of order 12345 and if it will ship to New York by Friday?";
const std::string kNewQuestion =
    "Can you tell me what the status of order 67890 is and whether it ships to New York by "
    "Friday?";
const std::string kAnswer = "Order 12345 has shipped and will reach New York by Friday.";

deja::json::Value Request() {
  deja::json::Value messages = deja::json::Value::MakeArray();
  auto message = [](const char* role, const std::string& content) {
    deja::json::Value m = deja::json::Value::MakeObject();
    m.Set("role", deja::json::Value(role));
    m.Set("content", deja::json::Value(content));
    return m;
  };
  messages.Push(message("system", "You are a helpful shipping assistant for an online store."));
  messages.Push(message("user", "Hi, I have a question about an order."));
  messages.Push(message("assistant", "Of course. What would you like to know?"));
  messages.Push(message("user", kQuestion));
  deja::json::Value body = deja::json::Value::MakeObject();
  body.Set("model", deja::json::Value("gpt-4o-mini"));
  body.Set("temperature", deja::json::Value(0));
  body.Set("messages", std::move(messages));
  return body;
}

void BM_WriteCanonical_Ref(benchmark::State& state) {
  const deja::json::Value body = Request();
  for (auto _ : state) {
    std::string canonical = deja::json::WriteCanonical(body);
    benchmark::DoNotOptimize(canonical);
  }
}
BENCHMARK(BM_WriteCanonical_Ref);

void BM_QuerySplit(benchmark::State& state) {
  const deja::json::Value body = Request();
  for (auto _ : state) {
    auto q = SplitSemanticQuery(deja::Route::kChatCompletions, body);
    benchmark::DoNotOptimize(q);
  }
}
BENCHMARK(BM_QuerySplit);

void BM_GuardFeatures(benchmark::State& state) {
  for (auto _ : state) {
    GuardFeatures f = ExtractGuardFeatures(kQuestion);
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_GuardFeatures);

void BM_GuardCheck(benchmark::State& state) {
  if (!GuardCheck(kQuestion, kReworded).ok) state.SkipWithError("the rewording should pass");
  for (auto _ : state) {
    GuardResult r = GuardCheck(kQuestion, kReworded);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_GuardCheck);

void BM_TemplateFill(benchmark::State& state) {
  if (!FillTemplate(MakeTemplate(kQuestion, kAnswer), kQuestion, kNewQuestion)) {
    state.SkipWithError("the template should fill");
  }
  for (auto _ : state) {
    AnswerTemplate t = MakeTemplate(kQuestion, kAnswer);
    std::optional<std::string> filled = FillTemplate(t, kQuestion, kNewQuestion);
    benchmark::DoNotOptimize(filled);
  }
}
BENCHMARK(BM_TemplateFill);

void BM_MatchPipeline(benchmark::State& state) {
  const deja::json::Value body = Request();
  for (auto _ : state) {
    auto q = SplitSemanticQuery(deja::Route::kChatCompletions, body);
    GuardResult r = GuardCheck(q->query, kNewQuestion);  // fails on the id: try the template
    AnswerTemplate t = MakeTemplate(kQuestion, kAnswer);
    std::optional<std::string> filled = FillTemplate(t, kQuestion, kNewQuestion);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(filled);
  }
  state.counters["target_ns"] = 20000;
}
BENCHMARK(BM_MatchPipeline);

}  // namespace

BENCHMARK_MAIN();
