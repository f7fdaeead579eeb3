// The LLM judge of `deja replay --compare judge`: the rubric prompt that asks a model whether a new
// answer is equivalent to a recorded one, and a tolerant reader of its verdict.
//
//   std::string q = QuestionText(Route::kChatCompletions, record_request_json);
//   json::Value body = JudgeRequestBody("gpt-4o-mini", q, old_text, new_text);  // POST to
//                                                                               //
//                                                                               /v1/chat/completions
//   StatusOr<JudgeVerdict> v = ParseJudgeVerdict(judge_answer_text);
//
// The system message carries kJudgeRubricMarker so test upstreams (tests/fake_upstream) can
// recognize a judge request. The user message is
//   <question>…</question>\n<reference_answer>…</reference_answer>\n<new_answer>…</new_answer>
// with each part cut to kJudgeMaxPartBytes (on a UTF-8 boundary, marked "…[truncated]").
//
// Thread safety: pure functions; safe to call concurrently.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/route.h"
#include "deja/status.h"

namespace deja::server {

inline constexpr std::string_view kJudgeRubricMarker = "[deja-replay-judge v1]";
inline constexpr size_t kJudgeMaxPartBytes = 16 * 1024;

// The question a recorded request asks, for people and judges: "role: text" lines of the messages
// (with the system prompt / instructions first), the prompt or the input; the request JSON itself
// when none of these is found or it does not parse.
std::string QuestionText(Route route, std::string_view request_json);

// A chat completion request body: temperature 0, the rubric as the system message, the question
// and both answers as the user message.
json::Value JudgeRequestBody(std::string_view judge_model, std::string_view question,
                             std::string_view reference_answer, std::string_view new_answer);

struct JudgeVerdict {
  bool equivalent = false;
  std::string reason;
};

// Reads {"equivalent": bool, "reason": str} from a judge's answer text: the whole text, or the
// first balanced {...} object in it that has "equivalent" (so code fences and chatter around it are
// fine). "equivalent" may also be the string "true"/"false"/"yes"/"no" (any case); a missing
// reason is "". InvalidArgument when no such object is found.
StatusOr<JudgeVerdict> ParseJudgeVerdict(std::string_view answer_text);

}  // namespace deja::server
