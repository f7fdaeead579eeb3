// Splits a normalized request into the text a semantic lookup compares by meaning and the context
// that must agree exactly.
//
// A semantic hit is only looked for among cached entries with the same context signature: same
// tenant, namespace, route, answer-affecting headers, and the same request in every other
// respect - model, sampling parameters, system prompt / instructions, tools, earlier turns of the
// conversation and any field deja does not know. Only the last user message (or, with
// query_turns = N, the last N user messages) is compared by meaning. So "How old is he?" asked
// after a conversation about Obama and after one about Biden has one query but two contexts, and
// never matches across them.
//
//   StatusOr<SemanticQuery> q = SplitSemanticQuery(Route::kChatCompletions, normalized.body);
//   if (!q.ok()) { /* not semantic-eligible: exact caching only; q.status().message() says why */ }
//   Embed(q->query) ... look up among entries whose context_signature == q->context_signature.
//
// The input is the request after core/normalize.h (volatile fields such as `stream` and `user`
// dropped, tool-call ids aliased), so two requests that would share an exact-cache key except for
// the compared text share a context.
//
// What is compared, per route:
//   chat completions  `messages`; a user message's content is a string or an array of
//                     {"type": "text"} parts (joined with "\n")
//   completions       `prompt`, when it is a string (or an array holding one string)
//   responses         `input` as a string, or the last `input` items with role "user" whose
//                     content is a string or {"type": "input_text"} parts; `instructions` and
//                     `previous_response_id` are context
//   anthropic         `messages`, content a string or {"type": "text"} blocks; `system` is context
// Not eligible (FailedPrecondition, message starting "not semantic-eligible: "): embeddings and
// other routes, a body without those fields, a last message that is not from the user (an
// assistant prefill, a tool result), a last user message with any non-text part (image, file,
// audio, tool_result block), and blank text.
//
// In the context, each compared message's content (or the whole `prompt` / `input` string) is
// replaced by the placeholder {"deja.semantic_query": i} (i = 0 for the last compared turn,
// counting back), an object no provider accepts as content, so no real request has the same
// context. A string content and the same text as one text part give the same context.
//
// Thread safety: pure function.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/route.h"
#include "deja/status.h"

namespace deja::semantic {

struct QueryOptions {
  // How many user messages, counting back from the last, form the compared text (joined
  // oldest first with "\n"). Messages between them (assistant replies, tool calls) stay in the
  // context, so they must still agree exactly. The window stops early at a user message with
  // non-text content; that message stays in the context. Values below 1 mean 1.
  int query_turns = 1;
};

// Partition of the cache the request belongs to; mixed into the signature (not into `context`).
struct ContextScope {
  std::string_view tenant;
  std::string_view cache_namespace;
  // core/normalize.h NormalizedRequest::keyed_headers (anthropic-version, openai-beta...).
  std::string_view keyed_headers;
};

struct SemanticQuery {
  std::string query;    // the text compared by meaning
  std::string context;  // RFC 8785 bytes of the request with the compared text replaced
  // BLAKE3 (derive_key mode, context "deja semantic context signature v1") of the route path,
  // tenant, namespace, keyed headers and `context`, each length-prefixed.
  std::array<uint8_t, 32> context_signature{};
  int turns = 0;  // user messages in `query` (<= query_turns)
};

// Splits `request` (the normalized body of a `route` request). Errors: FailedPrecondition
// "not semantic-eligible: <why>" (see above); nothing else.
StatusOr<SemanticQuery> SplitSemanticQuery(Route route, const json::Value& request,
                                           const QueryOptions& options = {},
                                           const ContextScope& scope = {});

// The context_signature of a `route` request whose SemanticQuery::context is `context`, under
// `scope`: what SplitSemanticQuery with that scope would give, without splitting again (the scope
// is not part of the context). E.g. the signature of the same request in another tenant.
std::array<uint8_t, 32> ContextSignature(Route route, std::string_view context,
                                         const ContextScope& scope);

}  // namespace deja::semantic
