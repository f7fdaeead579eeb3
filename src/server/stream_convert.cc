// Route dispatch for stream conversion, plus the helpers every provider file shares. The provider
// formats live in stream_convert_openai.cc (chat + legacy completions), stream_convert_responses.cc
// and stream_convert_anthropic.cc.
#include "server/stream_convert.h"

#include <utility>

#include "server/stream_convert_internal.h"

namespace deja::server {

namespace internal {

std::vector<std::string_view> SplitPieces(std::string_view text, size_t max_bytes) {
  std::vector<std::string_view> pieces;
  if (max_bytes < 4) max_bytes = 4;  // room for any UTF-8 sequence
  while (!text.empty()) {
    if (text.size() <= max_bytes) {
      pieces.push_back(text);
      break;
    }
    // text[cut] starts the next piece, so it must not be a UTF-8 continuation byte.
    size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    if (cut == 0) cut = max_bytes;  // not UTF-8 after all: any cut is as good as another
    // Break before a space when one is reasonably close, as tokenizers do (" word").
    size_t space = text.rfind(' ', cut - 1);
    if (space != std::string_view::npos && space >= cut / 2) cut = space;
    pieces.push_back(text.substr(0, cut));
    text.remove_prefix(cut);
  }
  return pieces;
}

StatusOr<json::Value> ParseEventData(const StreamEvent& e) {
  StatusOr<json::Value> v = json::Parse(e.data);
  if (!v.ok()) {
    return InvalidArgumentError("stream event" + (e.event.empty() ? "" : " '" + e.event + "'") +
                                " has malformed data: " + v.status().message());
  }
  if (!v->is_object()) {
    return InvalidArgumentError("stream event" + (e.event.empty() ? "" : " '" + e.event + "'") +
                                " data is not a JSON object");
  }
  return v;
}

StatusOr<json::Value> ParseObjectBody(std::string_view body) {
  StatusOr<json::Value> v = json::Parse(body);
  if (!v.ok()) return InvalidArgumentError("response body is not JSON: " + v.status().message());
  if (!v->is_object()) return InvalidArgumentError("response body is not a JSON object");
  return v;
}

int64_t GetInt(const json::Value& obj, std::string_view key) {
  const json::Value* v = obj.Find(key);
  return v != nullptr && v->is_number() ? static_cast<int64_t>(v->as_number()) : 0;
}

json::Value GetOrNull(const json::Value& obj, std::string_view key) {
  const json::Value* v = obj.Find(key);
  return v != nullptr ? *v : json::Value();
}

json::Value With(json::Value obj, std::string key, json::Value v) {
  obj.Set(std::move(key), std::move(v));
  return obj;
}

StreamEvent MakeEvent(std::string_view event, const json::Value& data) {
  return StreamEvent{std::string(event), json::Write(data)};
}

void ReadAnthropicUsage(const json::Value& usage, Usage* out) {
  out->input_tokens = GetInt(usage, "input_tokens") + GetInt(usage, "cache_creation_input_tokens") +
                      GetInt(usage, "cache_read_input_tokens");
  out->output_tokens = GetInt(usage, "output_tokens");
}

}  // namespace internal

namespace {

bool IsOpenAIStreamRoute(Route route) {
  return route == Route::kChatCompletions || route == Route::kCompletions;
}

Status NoStreamError(Route route) {
  std::string path(RoutePath(route));
  return InvalidArgumentError("route " + (path.empty() ? std::string("(other)") : path) +
                              " has no stream form");
}

}  // namespace

StreamEnd ClassifyStream(Route route, const std::vector<StreamEvent>& events) {
  if (IsOpenAIStreamRoute(route)) return internal::ClassifyOpenAI(route, events);
  if (route == Route::kResponses) return internal::ClassifyResponses(events);
  if (route == Route::kAnthropicMessages) return internal::ClassifyAnthropic(events);
  return StreamEnd::kError;
}

StatusOr<std::string> AssembleStream(Route route, const std::vector<StreamEvent>& events) {
  if (IsOpenAIStreamRoute(route)) return internal::AssembleOpenAI(route, events);
  if (route == Route::kResponses) return internal::AssembleResponses(events);
  if (route == Route::kAnthropicMessages) return internal::AssembleAnthropic(events);
  return NoStreamError(route);
}

StatusOr<std::vector<StreamEvent>> ExplodeBody(Route route, std::string_view body,
                                               bool include_usage) {
  if (!IsOpenAIStreamRoute(route) && route != Route::kResponses &&
      route != Route::kAnthropicMessages) {
    return NoStreamError(route);
  }
  DEJA_ASSIGN_OR_RETURN(json::Value doc, internal::ParseObjectBody(body));
  if (const json::Value* err = doc.Find("error"); err != nullptr && !err->is_null()) {
    return InvalidArgumentError("body is an error response, not an answer");
  }
  if (IsOpenAIStreamRoute(route)) return internal::ExplodeOpenAI(route, doc, include_usage);
  if (route == Route::kResponses) return internal::ExplodeResponses(doc);
  return internal::ExplodeAnthropic(doc);
}

StatusOr<std::vector<StreamEvent>> AdaptStreamUsage(Route route,
                                                    const std::vector<StreamEvent>& events,
                                                    bool include_usage) {
  if (IsOpenAIStreamRoute(route)) return internal::AdaptOpenAIUsage(events, include_usage);
  if (route == Route::kResponses || route == Route::kAnthropicMessages) return events;
  return NoStreamError(route);
}

Usage ExtractUsage(Route route, std::string_view body) {
  Usage out;
  StatusOr<json::Value> doc = json::Parse(body);
  if (!doc.ok() || !doc->is_object()) return out;
  out.model = std::string(doc->GetString("model"));
  const json::Value* usage = doc->Find("usage");
  if (usage == nullptr || !usage->is_object()) return out;
  switch (route) {
    case Route::kChatCompletions:
    case Route::kCompletions:
    case Route::kEmbeddings:
      out.input_tokens = internal::GetInt(*usage, "prompt_tokens");
      out.output_tokens = internal::GetInt(*usage, "completion_tokens");
      break;
    case Route::kResponses:
      out.input_tokens = internal::GetInt(*usage, "input_tokens");
      out.output_tokens = internal::GetInt(*usage, "output_tokens");
      break;
    case Route::kAnthropicMessages:
      internal::ReadAnthropicUsage(*usage, &out);
      break;
    case Route::kOther:
      break;
  }
  return out;
}

Usage ExtractStreamUsage(Route route, const std::vector<StreamEvent>& events) {
  if (IsOpenAIStreamRoute(route)) return internal::ExtractOpenAIStreamUsage(events);
  if (route == Route::kResponses) return internal::ExtractResponsesStreamUsage(events);
  if (route == Route::kAnthropicMessages) return internal::ExtractAnthropicStreamUsage(events);
  return Usage{};
}

}  // namespace deja::server
