// The API routes deja understands. Everything else is proxied unchanged and never cached.
#pragma once

#include <string_view>

namespace deja {

enum class Route {
  kOther = 0,
  kChatCompletions,    // OpenAI POST /v1/chat/completions
  kCompletions,        // OpenAI POST /v1/completions
  kEmbeddings,         // OpenAI POST /v1/embeddings
  kResponses,          // OpenAI POST /v1/responses
  kAnthropicMessages,  // Anthropic POST /v1/messages
};

enum class Provider { kOpenAI, kAnthropic };

// Maps a request path (query string ignored) to a route; kOther when not a cached route.
Route RouteFromPath(std::string_view path);
// The canonical path, e.g. "/v1/chat/completions"; "" for kOther.
std::string_view RoutePath(Route route);
Provider RouteProvider(Route route);

}  // namespace deja
