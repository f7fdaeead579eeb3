#include "semantic/semantic_query.h"

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include "core/blake3.h"

namespace deja::semantic {
namespace {

constexpr std::string_view kPlaceholderKey = "deja.semantic_query";

Status NotEligible(std::string why) {
  return FailedPreconditionError("not semantic-eligible: " + std::move(why));
}

json::Value Placeholder(int turn) {
  json::Value v = json::Value::MakeObject();
  v.Set(std::string(kPlaceholderKey), json::Value(turn));
  return v;
}

bool Blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
  });
}

// The text of a message content: a string, or an array of parts whose type is `text_type`
// (joined with "\n"). Otherwise false with `why` set.
bool ContentText(const json::Value* content, std::string_view text_type, std::string* text,
                 std::string* why) {
  text->clear();
  if (content == nullptr || content->is_null()) {
    *why = "the user message has no content";
    return false;
  }
  if (content->is_string()) {
    *text = content->as_string();
    return true;
  }
  if (!content->is_array() || content->as_array().empty()) {
    *why = "the user message content is neither text nor a list of parts";
    return false;
  }
  bool first = true;
  for (const json::Value& part : content->as_array()) {
    const json::Value* part_text = part.is_object() ? part.Find("text") : nullptr;
    const std::string_view type = part.is_object() ? part.GetString("type") : "";
    if (type != text_type || part_text == nullptr || !part_text->is_string()) {
      *why = "the user message has a non-text part (" +
             (type.empty() ? std::string("untyped") : "\"" + std::string(type) + "\"") + ")";
      return false;
    }
    if (!first) text->push_back('\n');
    first = false;
    text->append(part_text->as_string());
  }
  return true;
}

bool IsUserMessage(const json::Value& item, bool responses_item) {
  if (!item.is_object() || item.GetString("role") != "user") return false;
  if (!responses_item) return true;
  const json::Value* type = item.Find("type");
  return type == nullptr || (type->is_string() && type->as_string() == "message");
}

// Takes the compared turns out of a message list, newest first into `turns`.
Status SplitTurns(json::Value* list, std::string_view what, std::string_view text_type,
                  bool responses_items, int max_turns, std::vector<std::string>* turns) {
  if (list == nullptr || !list->is_array() || list->as_array().empty()) {
    return NotEligible("the request has no " + std::string(what));
  }
  json::Array& items = list->as_array();
  const size_t last = items.size() - 1;
  if (!IsUserMessage(items[last], responses_items)) {
    std::string role(items[last].is_object() ? items[last].GetString("role") : "");
    if (role.empty() && items[last].is_object()) role = items[last].GetString("type");
    return NotEligible("the last message is not a user message (" +
                       (role.empty() ? std::string("no role") : "\"" + role + "\"") + ")");
  }
  std::string text;
  std::string why;
  for (size_t k = items.size(); k-- > 0 && static_cast<int>(turns->size()) < max_turns;) {
    json::Value& item = items[k];
    if (!IsUserMessage(item, responses_items)) continue;
    const bool ok = ContentText(item.Find("content"), text_type, &text, &why);
    if (!ok || Blank(text)) {
      if (k == last) return NotEligible(ok ? "the last user message is blank" : why);
      break;  // the window ends before a non-text or blank user message
    }
    item.Set("content", Placeholder(static_cast<int>(turns->size())));
    turns->push_back(std::move(text));
  }
  return Status::Ok();
}

// A whole-string field (`prompt`, `input`) as the compared text.
Status SplitStringField(json::Value* body, std::string_view field,
                        std::vector<std::string>* turns) {
  json::Value* value = body->Find(field);
  const json::Value* text = value;
  if (value != nullptr && value->is_array() && value->as_array().size() == 1) {
    text = &value->as_array()[0];
  }
  if (text == nullptr || !text->is_string()) {
    return NotEligible("`" + std::string(field) + "` is not a single string");
  }
  if (Blank(text->as_string())) return NotEligible("`" + std::string(field) + "` is blank");
  turns->push_back(text->as_string());
  body->Set(std::string(field), Placeholder(0));
  return Status::Ok();
}

void UpdateFramed(Blake3* h, std::string_view part) {
  uint8_t len[8];
  uint64_t n = part.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  h->Update(len, sizeof(len));
  h->Update(part);
}

}  // namespace

StatusOr<SemanticQuery> SplitSemanticQuery(Route route, const json::Value& request,
                                           const QueryOptions& options, const ContextScope& scope) {
  if (!request.is_object()) return NotEligible("the request body is not a JSON object");
  const int max_turns = std::max(1, options.query_turns);
  json::Value body = request;
  std::vector<std::string> turns;  // newest first
  switch (route) {
    case Route::kChatCompletions:
    case Route::kAnthropicMessages:
      DEJA_RETURN_IF_ERROR(
          SplitTurns(body.Find("messages"), "messages", "text", false, max_turns, &turns));
      break;
    case Route::kCompletions:
      DEJA_RETURN_IF_ERROR(SplitStringField(&body, "prompt", &turns));
      break;
    case Route::kResponses: {
      json::Value* input = body.Find("input");
      if (input != nullptr && input->is_string()) {
        DEJA_RETURN_IF_ERROR(SplitStringField(&body, "input", &turns));
      } else {
        DEJA_RETURN_IF_ERROR(
            SplitTurns(input, "input items", "input_text", true, max_turns, &turns));
      }
      break;
    }
    case Route::kEmbeddings:
      return NotEligible("embeddings requests are not answered by a semantic cache");
    case Route::kOther:
      return NotEligible("the route is not cached");
  }

  SemanticQuery out;
  out.turns = static_cast<int>(turns.size());
  for (size_t i = turns.size(); i-- > 0;) {
    out.query += turns[i];
    if (i > 0) out.query.push_back('\n');
  }
  out.context = json::WriteCanonical(body);
  out.context_signature = ContextSignature(route, out.context, scope);
  return out;
}

std::array<uint8_t, 32> ContextSignature(Route route, std::string_view context,
                                         const ContextScope& scope) {
  Blake3 h = Blake3::DeriveKey("deja semantic context signature v1");
  UpdateFramed(&h, RoutePath(route));
  UpdateFramed(&h, scope.tenant);
  UpdateFramed(&h, scope.cache_namespace);
  UpdateFramed(&h, scope.keyed_headers);
  UpdateFramed(&h, context);
  return h.Finalize();
}

}  // namespace deja::semantic
