// Converting cached answers between their stream and non-stream forms.
//
// deja caches one entry per request whether the client asked for `stream: true` or not, so an entry
// must be servable in both forms: a stored JSON body replays as the event stream the provider would
// have sent, and a stored event stream assembles into the JSON body the provider would have
// returned. The wire formats are the providers' documented ones, so the official SDKs (`openai`,
// `@anthropic-ai/sdk`) accept the output:
//
//   route                 stream form
//   kChatCompletions      `data: {chat.completion.chunk}` ... `data: [DONE]` (no event names)
//   kCompletions          `data: {text_completion}` ... `data: [DONE]`
//   kResponses            `event: response.created` ... `event: response.completed` (data.type
//                         equals the event name; every event has a sequence_number)
//   kAnthropicMessages    `event: message_start` ... `event: message_stop`
//   kEmbeddings, kOther   never stream: the stream functions return InvalidArgument
//
//   if (ClassifyStream(route, events) == StreamEnd::kClean) store(events);
//   StatusOr<std::string> body = AssembleStream(route, stored_events);        // stream -> body
//   StatusOr<std::vector<StreamEvent>> ev = ExplodeBody(route, stored_body, include_usage);
//
// Conversions are semantic: assembling an exploded body yields a JSON value equal to the body (same
// members and values; member order may differ), not the same bytes.
//
// Thread safety: every function here is pure (no shared state) and may be called concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/route.h"
#include "deja/status.h"
#include "deja/store.h"

namespace deja::server {

enum class StreamEnd {
  kClean,       // a complete, successful answer: worth caching
  kIncomplete,  // cut off, or ended without an accepted stop reason (e.g. content_filter, refusal)
  kError,       // the provider reported an error mid-stream
};

// Whether a finished stream is a complete, successful answer worth caching.
//   OpenAI chat/completions: every choice has a finish_reason in (stop, tool_calls, function_call,
//     length), and the stream ends with `data: [DONE]`.
//   Responses: a `response.completed` event (`response.incomplete` is kIncomplete,
//     `response.failed` is kError).
//   Anthropic: `message_stop` after a `message_delta` whose stop_reason is one of end_turn,
//     tool_use, stop_sequence, max_tokens.
// Any `error` event (or, for OpenAI, a data payload with an `error` member) is kError. Embeddings
// and other routes are kError (they never stream).
StreamEnd ClassifyStream(Route route, const std::vector<StreamEvent>& events);

// Stored stream -> the equivalent non-stream JSON body.
//   Chat: merges content/refusal pieces, tool_call fragments (by index) and logprobs for every
//     choice (n > 1 supported); usage when the stream had a usage chunk.
//   Responses: the response object carried by response.completed (or .incomplete / .failed).
//   Anthropic: the message of message_start with the assembled content blocks (tool_use input
//     parsed from the concatenated partial_json) and the stop reason and usage of message_delta.
// Errors: InvalidArgument for a route that never streams or a malformed event; FailedPrecondition
// when the stream carries a provider error or lacks what the body needs (no chunks, no
// message_start, no final response object).
StatusOr<std::string> AssembleStream(Route route, const std::vector<StreamEvent>& events);

// Stored JSON body -> the equivalent event stream. Text is sent in a few UTF-8-safe pieces.
// include_usage (OpenAI chat/completions only; the request's stream_options.include_usage): every
// chunk carries `"usage": null` and a final usage chunk with empty choices precedes [DONE]; when
// false no chunk mentions usage. Other routes always carry usage, as their APIs do.
// Errors: InvalidArgument for a route that never streams or a body that is not the route's answer
// object; FailedPrecondition when include_usage is asked but the body has no usage.
StatusOr<std::vector<StreamEvent>> ExplodeBody(Route route, std::string_view body,
                                               bool include_usage);

// Replaying a stored stream to a client: OpenAI's usage chunk must appear only if this request
// asked for it. For chat/completions, include_usage=false drops the usage chunk and `usage`
// members; include_usage=true keeps or synthesizes the usage chunk (from usage found on any chunk,
// e.g. a final choice chunk as some compatible servers send) and gives other chunks `"usage":
// null`. Chunks that need no change are passed through byte for byte. Other streaming routes are
// returned unchanged. Errors: InvalidArgument for a route that never streams or a malformed chunk;
// FailedPrecondition when include_usage is asked but the stored stream has no usage anywhere (the
// caller should treat the entry as a miss and fetch a fresh answer).
StatusOr<std::vector<StreamEvent>> AdaptStreamUsage(Route route,
                                                    const std::vector<StreamEvent>& events,
                                                    bool include_usage);

// Model and token counts of an answer, for entry metadata. input_tokens counts every prompt token:
// OpenAI's prompt_tokens / input_tokens; for Anthropic input_tokens plus the cache creation and
// cache read input tokens (which Anthropic reports separately). Fields stay empty/zero when absent
// or when the body does not parse.
struct Usage {
  std::string model;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};
Usage ExtractUsage(Route route, std::string_view body);                         // non-stream body
Usage ExtractStreamUsage(Route route, const std::vector<StreamEvent>& events);  // stream

}  // namespace deja::server
