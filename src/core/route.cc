#include "core/route.h"

namespace deja {

Route RouteFromPath(std::string_view path) {
  if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path == "/v1/chat/completions") return Route::kChatCompletions;
  if (path == "/v1/completions") return Route::kCompletions;
  if (path == "/v1/embeddings") return Route::kEmbeddings;
  if (path == "/v1/responses") return Route::kResponses;
  if (path == "/v1/messages") return Route::kAnthropicMessages;
  return Route::kOther;
}

std::string_view RoutePath(Route route) {
  switch (route) {
    case Route::kChatCompletions:
      return "/v1/chat/completions";
    case Route::kCompletions:
      return "/v1/completions";
    case Route::kEmbeddings:
      return "/v1/embeddings";
    case Route::kResponses:
      return "/v1/responses";
    case Route::kAnthropicMessages:
      return "/v1/messages";
    case Route::kOther:
      break;
  }
  return "";
}

Provider RouteProvider(Route route) {
  return route == Route::kAnthropicMessages ? Provider::kAnthropic : Provider::kOpenAI;
}

}  // namespace deja
