// Private helpers shared by the stream_convert*.cc files; not part of deja's interface.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/route.h"
#include "deja/status.h"
#include "deja/store.h"
#include "server/stream_convert.h"

namespace deja::server::internal {

inline constexpr std::string_view kDone = "[DONE]";  // OpenAI's stream terminator

// Exploded text goes out in pieces of at most this many bytes. Replays then look like a live stream
// to incremental renderers without costing one event per token.
inline constexpr size_t kPieceBytes = 48;

// Splits `text` into pieces of at most `max_bytes` bytes (a little less when that avoids cutting a
// word), never inside a UTF-8 sequence. Empty text gives no pieces.
std::vector<std::string_view> SplitPieces(std::string_view text, size_t max_bytes = kPieceBytes);

// Parses an event's data; InvalidArgument naming the event on failure.
StatusOr<json::Value> ParseEventData(const StreamEvent& e);
// Parses a body that must be a JSON object; InvalidArgument otherwise.
StatusOr<json::Value> ParseObjectBody(std::string_view body);

// Integer member of an object (0 when absent or not a number).
int64_t GetInt(const json::Value& obj, std::string_view key);
// Copy of member `key`, or null when absent.
json::Value GetOrNull(const json::Value& obj, std::string_view key);
// `obj` with member `key` set. REQUIRES: obj.is_object().
json::Value With(json::Value obj, std::string key, json::Value v);
// An event whose data is `data` serialized compactly.
StreamEvent MakeEvent(std::string_view event, const json::Value& data);

// Provider halves of the public functions. REQUIRES: the route belongs to the provider file.
StreamEnd ClassifyOpenAI(Route route, const std::vector<StreamEvent>& events);
StatusOr<std::string> AssembleOpenAI(Route route, const std::vector<StreamEvent>& events);
StatusOr<std::vector<StreamEvent>> ExplodeOpenAI(Route route, const json::Value& body,
                                                 bool include_usage);
StatusOr<std::vector<StreamEvent>> AdaptOpenAIUsage(const std::vector<StreamEvent>& events,
                                                    bool include_usage);
Usage ExtractOpenAIStreamUsage(const std::vector<StreamEvent>& events);

StreamEnd ClassifyResponses(const std::vector<StreamEvent>& events);
StatusOr<std::string> AssembleResponses(const std::vector<StreamEvent>& events);
StatusOr<std::vector<StreamEvent>> ExplodeResponses(const json::Value& body);
Usage ExtractResponsesStreamUsage(const std::vector<StreamEvent>& events);

StreamEnd ClassifyAnthropic(const std::vector<StreamEvent>& events);
StatusOr<std::string> AssembleAnthropic(const std::vector<StreamEvent>& events);
StatusOr<std::vector<StreamEvent>> ExplodeAnthropic(const json::Value& body);
Usage ExtractAnthropicStreamUsage(const std::vector<StreamEvent>& events);
// Sets out's token counts from an Anthropic usage object (input counts cache tokens too).
void ReadAnthropicUsage(const json::Value& usage, Usage* out);

}  // namespace deja::server::internal
