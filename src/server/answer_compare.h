// What two answers to the same request must share to count as "the same answer".
//
// Used by `deja replay` (replay_diff.h) to tell a regression from noise, and by the gateway's
// semantic tier to verify a would-be semantic hit against a fresh answer (semantic.verify), and
// by shadow mode (structured) to tell whether a would-be hit matched the fresh answer: a
// re-asked request gets a new id, a new `created` time, maybe another model snapshot and other
// token counts, and none of that is a change of the answer. SameAnswer (at the end) is the one
// comparison they all use.
//
//   StatusOr<std::string> a = StructuredFingerprint(Route::kChatCompletions, old_answer);
//   StatusOr<std::string> b = StructuredFingerprint(Route::kChatCompletions, new_answer);
//   bool same = a.ok() && b.ok() && *a == *b;
//
// The fingerprint is the canonical JSON (RFC 8785) of an array with one element per choice
// (OpenAI chat/completions, in `index` order), per output item (Responses) or one for the message
// (Anthropic). Each element is {"finish": <reason>, "parts": [part...]}:
//
//   {"kind":"text","text":"..."}
//   {"kind":"refusal","text":"..."}
//   {"kind":"tool_call","name":"...","arguments":<parsed JSON if it parses, else the string>}
//   {"kind":"other","item":<the block/item minus its id, call_id and status>}   anything else
//
//   route               element                      finish
//   chat completions    one per choice               finish_reason
//   completions         one per choice (text part)   finish_reason
//   responses           one per output item          the item's status (e.g. "completed")
//                       (+ a last {"finish": status, "parts": [], "reason": …} when the response's
//                       status is not "completed", e.g. incomplete / max_output_tokens)
//   anthropic messages  one (content blocks)         stop_reason, plus "stop_sequence" if set
//   embeddings          one per vector (by index)    {"embedding": [...]} instead of parts
//
// Left out: ids (message, call, item, tool-use ids), created / created_at, the model snapshot,
// system_fingerprint, service_tier, usage, logprobs, and reasoning: OpenAI `reasoning` output items
// and Anthropic `thinking` / `redacted_thinking` blocks (hidden or free-running, not the answer).
// Chat `content` given as an array of parts is handled like Responses message content, an audio
// answer's transcript as a text part. Legacy `function_call` counts as a tool call. Anthropic
// `tool_use` / `server_tool_use` inputs become tool calls whose arguments are the input object, so
// they compare like OpenAI's parsed arguments.
//
// Embeddings: each float is rounded to 4 decimal places (1e-4; providers' vectors differ in the
// last float digits between runs of the same model), so equal fingerprints mean "the same vectors
// to 1e-4". base64-encoded vectors (encoding_format "base64") are compared as their strings.
//
// Streams are assembled into the body first (AssembleStream), so a streamed answer and the same
// answer as a body have equal fingerprints. An answer whose status is not 2xx is fingerprinted as
// [{"finish":"error","status":N,"type":<error.type>,"code":<error.code>}] (the message text, which
// often carries request ids, is left out).
//
// Errors: InvalidArgument for Route::kOther, a body that is not JSON or not the route's answer
// object; the AssembleStream errors for a stream that does not assemble.
//
// Thread safety: pure functions; safe to call concurrently.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/route.h"
#include "deja/status.h"
#include "deja/store.h"

namespace deja::server {

// Structured fingerprint of an answer (see above): equal strings = the same answer.
StatusOr<std::string> StructuredFingerprint(Route route, const CachedResponse& answer);

// The answer's text for embedding comparison and judges: every text and refusal part in order,
// tool calls rendered as `name(arguments)` (arguments as canonical JSON when they parse), parts and
// choices separated by "\n". Embeddings answers have no text: their text is the fingerprint (the
// rounded vectors as JSON). Same errors as StructuredFingerprint.
StatusOr<std::string> AnswerText(Route route, const CachedResponse& answer);

// How two answers are compared.
enum class AnswerMatch {
  kStructured,  // StructuredFingerprint equality
  kExactText,   // AnswerText equality, byte for byte
  kEmbedding,   // AnswerText similarity >= min_similarity (identical texts: 1, nothing embedded)
};
// The gateway's semantic.verify names: "structured", "exact", "embedding"; InvalidArgument
// otherwise.
StatusOr<AnswerMatch> ParseAnswerMatch(std::string_view name);

// Cosine similarity of two texts, e.g. semantic::TextSimilarity under an embedder. Must be safe to
// call concurrently when SameAnswer is.
using TextSimilarity = std::function<StatusOr<double>(std::string_view, std::string_view)>;

struct AnswerComparison {
  bool same = false;
  // What was compared, for reports: the fingerprints (kStructured) or the answer texts.
  std::string recorded_form;
  std::string fresh_form;
  std::optional<double> similarity;  // kEmbedding only
};

// Whether `fresh` is the same answer as `recorded` (a cached or recorded answer to the same or an
// equivalent request) under `match`. `similarity` and `min_similarity` are used by kEmbedding only.
// Errors: an unreadable answer (StructuredFingerprint / AnswerText errors), the message prefixed
// "recorded answer: " or "new answer: "; kEmbedding: FailedPrecondition when `similarity` is empty,
// else its error, the message prefixed "embedding: ".
StatusOr<AnswerComparison> SameAnswer(Route route, AnswerMatch match,
                                      const CachedResponse& recorded, const CachedResponse& fresh,
                                      const TextSimilarity& similarity, double min_similarity);

}  // namespace deja::server
