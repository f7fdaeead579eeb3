// Request normalization: turns a provider request body into the form its cache key is computed
// from.
//
// What is dropped is exactly what cannot change the answer (transport and bookkeeping fields such
// as `stream`, `user`, `metadata`); everything else, including fields deja does not know, is kept,
// because a field wrongly dropped means a wrong answer served from cache. docs/keys.md has the
// table per route.
//
// Tool-call ids (`call_…`, `toolu_…`) are rewritten to positional aliases, consistently between a
// tool call and the result that answers it, so replays of one conversation key alike.
//
//   Normalizer n(options);                       // compiles the rules once
//   StatusOr<NormalizedRequest> r = n.Normalize(Route::kChatCompletions, std::move(body), headers);
//
// Thread safety: a Normalizer is immutable after construction; Normalize may be called
// concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/route.h"
#include "deja/status.h"

namespace deja {

struct NormalizeOptions {
  // RFC 6901 JSON pointers removed from the body before keying, e.g. "/metadata" or
  // "/messages/*/name"
  // ("*" matches every array element or object member at that level).
  std::vector<std::string> ignore_pointers;
  // RE2 regular expressions whose matches are removed from message text (system prompt, message
  // contents, prompt, input), e.g. an agent's "^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] " timestamp
  // prefix.
  std::vector<std::string> strip_patterns;
  // Rewrite tool-call ids to positional aliases (default on).
  bool alias_tool_call_ids = true;
};

struct NormalizedRequest {
  json::Value body;            // the normalized request
  std::string canonical;       // RFC 8785 bytes of `body`
  std::string keyed_headers;   // RFC 8785 object of answer-affecting headers; "" when none
  std::string model;           // the `model` field ("" if absent)
  bool stream = false;         // the client asked for a stream
  bool include_usage = false;  // OpenAI stream_options.include_usage
};

class Normalizer {
 public:
  // InvalidArgument if a pointer or pattern does not compile.
  static StatusOr<std::unique_ptr<Normalizer>> Create(const NormalizeOptions& options);
  ~Normalizer();

  // `headers` are the request headers (any case); only those that change the answer
  // (anthropic-version, anthropic-beta, openai-beta) enter the key.
  // InvalidArgument when the body is not a JSON object.
  StatusOr<NormalizedRequest> Normalize(
      Route route, json::Value body,
      const std::vector<std::pair<std::string, std::string>>& headers) const;

 private:
  struct Rules;
  explicit Normalizer(std::unique_ptr<Rules> rules);
  std::unique_ptr<Rules> rules_;
};

// Fields removed from the key for a route (exposed for the docs test and `deja key`).
const std::vector<std::string_view>& DroppedFields(Route route);

}  // namespace deja
