#include "server/answer_compare.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>

#include "core/json.h"
#include "server/stream_convert.h"

namespace deja::server {
namespace {

using json::Value;

Value Str(std::string_view s) { return Value(s); }

Value TextPart(std::string_view kind, std::string_view text) {
  Value part = Value::MakeObject();
  part.Set("kind", Str(kind));
  part.Set("text", Str(text));
  return part;
}

// Arguments as JSON when the text parses, else the text itself.
Value ToolCallPart(std::string_view name, const Value* arguments) {
  Value part = Value::MakeObject();
  part.Set("kind", Str("tool_call"));
  part.Set("name", Str(name));
  if (arguments == nullptr) {
    part.Set("arguments", Value());
  } else if (arguments->is_string()) {
    StatusOr<Value> parsed = json::Parse(arguments->as_string());
    part.Set("arguments", parsed.ok() ? std::move(*parsed) : *arguments);
  } else {
    part.Set("arguments", *arguments);
  }
  return part;
}

// A block or item we do not interpret, minus what changes on every call.
Value OtherPart(const Value& item) {
  Value copy = item;
  if (copy.is_object()) {
    copy.Erase("id");
    copy.Erase("call_id");
    copy.Erase("status");
  }
  Value part = Value::MakeObject();
  part.Set("kind", Str("other"));
  part.Set("item", std::move(copy));
  return part;
}

Value Element(Value finish, Value parts) {
  Value element = Value::MakeObject();
  element.Set("finish", std::move(finish));
  element.Set("parts", std::move(parts));
  return element;
}

Value MemberOrNull(const Value& object, std::string_view key) {
  const Value* v = object.Find(key);
  return v != nullptr ? *v : Value();
}

// Responses message content / chat content arrays: output_text, text, refusal parts.
void AppendContentParts(const Value& content, Value* parts) {
  for (const Value& block : content.as_array()) {
    const std::string_view type = block.GetString("type");
    if (type == "output_text" || type == "text") {
      parts->Push(TextPart("text", block.GetString("text")));
    } else if (type == "refusal") {
      parts->Push(TextPart("refusal", block.GetString("refusal", block.GetString("text"))));
    } else {
      parts->Push(OtherPart(block));
    }
  }
}

// Choices sorted by their `index` member (input order when absent).
StatusOr<std::vector<const Value*>> SortedChoices(const Value& body) {
  const Value* choices = body.Find("choices");
  if (choices == nullptr || !choices->is_array()) {
    return InvalidArgumentError("answer has no \"choices\" array");
  }
  std::vector<const Value*> sorted;
  for (const Value& c : choices->as_array()) {
    if (!c.is_object()) return InvalidArgumentError("a choice is not an object");
    sorted.push_back(&c);
  }
  std::stable_sort(sorted.begin(), sorted.end(), [](const Value* a, const Value* b) {
    const Value* ia = a->Find("index");
    const Value* ib = b->Find("index");
    const double va = ia != nullptr && ia->is_number() ? ia->as_number() : 0;
    const double vb = ib != nullptr && ib->is_number() ? ib->as_number() : 0;
    return va < vb;
  });
  return sorted;
}

StatusOr<Value> ChatElements(const Value& body) {
  DEJA_ASSIGN_OR_RETURN(std::vector<const Value*> choices, SortedChoices(body));
  Value out = Value::MakeArray();
  for (const Value* choice : choices) {
    Value parts = Value::MakeArray();
    const Value* message = choice->Find("message");
    if (message != nullptr && message->is_object()) {
      const Value* content = message->Find("content");
      if (content != nullptr && content->is_string() && !content->as_string().empty()) {
        parts.Push(TextPart("text", content->as_string()));
      } else if (content != nullptr && content->is_array()) {
        AppendContentParts(*content, &parts);
      }
      const Value* refusal = message->Find("refusal");
      if (refusal != nullptr && refusal->is_string()) {
        parts.Push(TextPart("refusal", refusal->as_string()));
      }
      const Value* tool_calls = message->Find("tool_calls");
      if (tool_calls != nullptr && tool_calls->is_array()) {
        for (const Value& call : tool_calls->as_array()) {
          const Value* function = call.Find("function");
          if (function != nullptr && function->is_object()) {
            parts.Push(ToolCallPart(function->GetString("name"), function->Find("arguments")));
          } else {
            parts.Push(OtherPart(call));
          }
        }
      }
      const Value* function_call = message->Find("function_call");
      if (function_call != nullptr && function_call->is_object()) {
        parts.Push(
            ToolCallPart(function_call->GetString("name"), function_call->Find("arguments")));
      }
      const Value* audio = message->Find("audio");
      if (audio != nullptr && audio->is_object()) {
        parts.Push(TextPart("text", audio->GetString("transcript")));
      }
    }
    out.Push(Element(MemberOrNull(*choice, "finish_reason"), std::move(parts)));
  }
  return out;
}

StatusOr<Value> CompletionElements(const Value& body) {
  DEJA_ASSIGN_OR_RETURN(std::vector<const Value*> choices, SortedChoices(body));
  Value out = Value::MakeArray();
  for (const Value* choice : choices) {
    Value parts = Value::MakeArray();
    parts.Push(TextPart("text", choice->GetString("text")));
    out.Push(Element(MemberOrNull(*choice, "finish_reason"), std::move(parts)));
  }
  return out;
}

StatusOr<Value> ResponsesElements(const Value& body) {
  const Value* output = body.Find("output");
  if (output == nullptr || !output->is_array()) {
    return InvalidArgumentError("answer has no \"output\" array");
  }
  Value out = Value::MakeArray();
  for (const Value& item : output->as_array()) {
    if (!item.is_object()) return InvalidArgumentError("an output item is not an object");
    const std::string_view type = item.GetString("type");
    if (type == "reasoning") continue;
    Value parts = Value::MakeArray();
    if (type == "message") {
      const Value* content = item.Find("content");
      if (content != nullptr && content->is_array()) AppendContentParts(*content, &parts);
    } else if (type == "function_call") {
      parts.Push(ToolCallPart(item.GetString("name"), item.Find("arguments")));
    } else if (type == "custom_tool_call") {
      parts.Push(ToolCallPart(item.GetString("name"), item.Find("input")));
    } else {
      parts.Push(OtherPart(item));
    }
    out.Push(Element(MemberOrNull(item, "status"), std::move(parts)));
  }
  // An answer cut short says so on the response, not always on its items.
  const std::string_view status = body.GetString("status", "completed");
  if (status != "completed") {
    Value end = Element(Str(status), Value::MakeArray());
    const Value* details = body.Find("incomplete_details");
    if (details != nullptr && details->is_object())
      end.Set("reason", MemberOrNull(*details, "reason"));
    out.Push(std::move(end));
  }
  return out;
}

StatusOr<Value> AnthropicElements(const Value& body) {
  const Value* content = body.Find("content");
  if (content == nullptr || !content->is_array()) {
    return InvalidArgumentError("answer has no \"content\" array");
  }
  Value parts = Value::MakeArray();
  for (const Value& block : content->as_array()) {
    const std::string_view type = block.GetString("type");
    if (type == "thinking" || type == "redacted_thinking") continue;
    if (type == "text") {
      parts.Push(TextPart("text", block.GetString("text")));
    } else if (type == "tool_use" || type == "server_tool_use") {
      parts.Push(ToolCallPart(block.GetString("name"), block.Find("input")));
    } else {
      parts.Push(OtherPart(block));
    }
  }
  Value element = Element(MemberOrNull(body, "stop_reason"), std::move(parts));
  const Value* stop_sequence = body.Find("stop_sequence");
  if (stop_sequence != nullptr && !stop_sequence->is_null()) {
    element.Set("stop_sequence", *stop_sequence);
  }
  Value out = Value::MakeArray();
  out.Push(std::move(element));
  return out;
}

Value RoundVector(const Value& v) {
  if (!v.is_array()) return v;
  Value out = Value::MakeArray();
  for (const Value& x : v.as_array()) {
    out.Push(x.is_number() ? Value(std::round(x.as_number() * 1e4) / 1e4 + 0.0) : x);
  }
  return out;
}

StatusOr<Value> EmbeddingElements(const Value& body) {
  const Value* data = body.Find("data");
  if (data == nullptr || !data->is_array()) {
    return InvalidArgumentError("answer has no \"data\" array");
  }
  std::vector<const Value*> items;
  for (const Value& item : data->as_array()) {
    if (!item.is_object()) return InvalidArgumentError("an embedding item is not an object");
    items.push_back(&item);
  }
  std::stable_sort(items.begin(), items.end(), [](const Value* a, const Value* b) {
    const Value* ia = a->Find("index");
    const Value* ib = b->Find("index");
    return (ia != nullptr && ia->is_number() ? ia->as_number() : 0) <
           (ib != nullptr && ib->is_number() ? ib->as_number() : 0);
  });
  Value out = Value::MakeArray();
  for (const Value* item : items) {
    Value element = Value::MakeObject();
    const Value* embedding = item->Find("embedding");
    element.Set("embedding", embedding != nullptr ? RoundVector(*embedding) : Value());
    out.Push(std::move(element));
  }
  return out;
}

Value ErrorElements(const CachedResponse& answer, const StatusOr<Value>& body) {
  Value element = Value::MakeObject();
  element.Set("finish", Str("error"));
  element.Set("status", Value(answer.status));
  Value type;
  Value code;
  if (body.ok()) {
    const Value* error = body->Find("error");
    if (error != nullptr && error->is_object()) {
      type = MemberOrNull(*error, "type");
      code = MemberOrNull(*error, "code");
    }
  }
  element.Set("type", std::move(type));
  element.Set("code", std::move(code));
  Value out = Value::MakeArray();
  out.Push(std::move(element));
  return out;
}

// The fingerprint as a value (before canonical serialization).
StatusOr<Value> FingerprintValue(Route route, const CachedResponse& answer) {
  if (route == Route::kOther) {
    return InvalidArgumentError("not a cached route: answers cannot be compared");
  }
  std::string assembled;
  std::string_view body_text = answer.body;
  if (answer.streamed) {
    DEJA_ASSIGN_OR_RETURN(assembled, AssembleStream(route, answer.events));
    body_text = assembled;
  }
  StatusOr<Value> body = json::Parse(body_text);
  if (answer.status < 200 || answer.status > 299) return ErrorElements(answer, body);
  if (!body.ok()) return InvalidArgumentError("answer is not JSON: " + body.status().message());
  if (!body->is_object()) return InvalidArgumentError("answer is not a JSON object");
  switch (route) {
    case Route::kChatCompletions:
      return ChatElements(*body);
    case Route::kCompletions:
      return CompletionElements(*body);
    case Route::kResponses:
      return ResponsesElements(*body);
    case Route::kAnthropicMessages:
      return AnthropicElements(*body);
    case Route::kEmbeddings:
      return EmbeddingElements(*body);
    case Route::kOther:
      break;
  }
  return InvalidArgumentError("not a cached route");
}

void AppendLine(std::string_view text, std::string* out) {
  if (!out->empty()) out->push_back('\n');
  out->append(text);
}

}  // namespace

StatusOr<std::string> StructuredFingerprint(Route route, const CachedResponse& answer) {
  DEJA_ASSIGN_OR_RETURN(Value fingerprint, FingerprintValue(route, answer));
  return json::WriteCanonical(fingerprint);
}

StatusOr<std::string> AnswerText(Route route, const CachedResponse& answer) {
  DEJA_ASSIGN_OR_RETURN(Value fingerprint, FingerprintValue(route, answer));
  if (route == Route::kEmbeddings) return json::WriteCanonical(fingerprint);
  std::string text;
  for (const Value& element : fingerprint.as_array()) {
    const Value* parts = element.Find("parts");
    if (parts == nullptr || !parts->is_array()) continue;
    for (const Value& part : parts->as_array()) {
      const std::string_view kind = part.GetString("kind");
      if (kind == "text" || kind == "refusal") {
        AppendLine(part.GetString("text"), &text);
      } else if (kind == "tool_call") {
        const Value* arguments = part.Find("arguments");
        const std::string args = arguments == nullptr     ? std::string()
                                 : arguments->is_string() ? arguments->as_string()
                                                          : json::WriteCanonical(*arguments);
        AppendLine(std::string(part.GetString("name")) + "(" + args + ")", &text);
      }
    }
  }
  return text;
}

namespace {

// The answer's form under `match`: its fingerprint (kStructured) or its text.
StatusOr<std::string> FormOf(Route route, AnswerMatch match, const CachedResponse& answer,
                             std::string_view side) {
  StatusOr<std::string> form = match == AnswerMatch::kStructured
                                   ? StructuredFingerprint(route, answer)
                                   : AnswerText(route, answer);
  if (!form.ok()) {
    return Status(form.status().code(), std::string(side) + form.status().message());
  }
  return form;
}

}  // namespace

StatusOr<AnswerMatch> ParseAnswerMatch(std::string_view name) {
  if (name == "structured") return AnswerMatch::kStructured;
  if (name == "exact") return AnswerMatch::kExactText;
  if (name == "embedding") return AnswerMatch::kEmbedding;
  return InvalidArgumentError("unknown answer comparison \"" + std::string(name) +
                              "\" (structured, exact or embedding)");
}

StatusOr<AnswerComparison> SameAnswer(Route route, AnswerMatch match,
                                      const CachedResponse& recorded, const CachedResponse& fresh,
                                      const TextSimilarity& similarity, double min_similarity) {
  AnswerComparison out;
  DEJA_ASSIGN_OR_RETURN(out.recorded_form, FormOf(route, match, recorded, "recorded answer: "));
  DEJA_ASSIGN_OR_RETURN(out.fresh_form, FormOf(route, match, fresh, "new answer: "));
  out.same = out.recorded_form == out.fresh_form;
  if (match != AnswerMatch::kEmbedding) return out;
  double s = 1.0;
  if (!out.same) {
    if (!similarity) return FailedPreconditionError("no embedder for embedding comparison");
    StatusOr<double> measured = similarity(out.recorded_form, out.fresh_form);
    if (!measured.ok()) {
      return Status(measured.status().code(), "embedding: " + measured.status().message());
    }
    s = *measured;
  }
  out.similarity = s;
  out.same = s >= min_similarity;
  return out;
}

}  // namespace deja::server
