// OpenAI Responses API: named events whose data carries `type` (equal to the event name) and a
// `sequence_number`. The stream opens with response.created / response.in_progress (the response
// object with no output yet), builds each output item (output_item.added, its content parts and
// text deltas, output_item.done) and closes with response.completed carrying the full response
// object (response.incomplete / response.failed when it did not complete).
#include <utility>

#include "server/stream_convert_internal.h"

namespace deja::server::internal {

namespace {

using json::Array;
using json::Member;
using json::Object;
using json::Value;

// The event's type: its name, or the data's `type` when the event line was omitted.
std::string EventType(const StreamEvent& e) {
  if (!e.event.empty()) return e.event;
  StatusOr<Value> data = json::Parse(e.data);
  return data.ok() ? std::string(data->GetString("type")) : std::string();
}

bool IsTerminal(std::string_view type) {
  return type == "response.completed" || type == "response.incomplete" || type == "response.failed";
}

// Builds events in order, numbering them.
class Emitter {
 public:
  void Emit(std::string_view type, Object fields) {
    Value data(Object{{"type", Value(type)}, {"sequence_number", Value(seq_++)}});
    for (Member& m : fields) data.Set(std::move(m.first), std::move(m.second));
    events_.push_back(MakeEvent(type, data));
  }
  std::vector<StreamEvent> Take() { return std::move(events_); }

 private:
  int64_t seq_ = 0;
  std::vector<StreamEvent> events_;
};

// `item` as output_item.added shows it: still in progress (when it has a status at all).
Value InProgress(Value item) {
  if (item.Find("status") != nullptr) item.Set("status", Value("in_progress"));
  return item;
}

void ExplodeMessage(const Value& item, const Value& out_index, Emitter* em) {
  const Value item_id = GetOrNull(item, "id");
  em->Emit(
      "response.output_item.added",
      {{"output_index", out_index}, {"item", InProgress(With(item, "content", Value(Array{})))}});
  const Value* content = item.Find("content");
  if (content != nullptr && content->is_array()) {
    const Array& parts = content->as_array();
    for (size_t k = 0; k < parts.size(); ++k) {
      const Value& part = parts[k];
      const Value at(static_cast<int64_t>(k));
      const std::string_view type = part.GetString("type");
      auto added_part = [&](const char* text_key) {
        Value p = With(part, text_key, Value(""));
        for (const char* key : {"annotations", "logprobs"}) {
          if (p.Find(key) != nullptr) p.Set(key, Value(Array{}));
        }
        em->Emit("response.content_part.added", {{"item_id", item_id},
                                                 {"output_index", out_index},
                                                 {"content_index", at},
                                                 {"part", p}});
      };
      if (type == "output_text") {
        added_part("text");
        const std::string_view text = part.GetString("text");
        const Value* lp = part.Find("logprobs");
        const bool whole = lp != nullptr && lp->is_array() && !lp->as_array().empty();
        std::vector<std::string_view> pieces;
        if (!text.empty()) pieces = whole ? std::vector<std::string_view>{text} : SplitPieces(text);
        for (std::string_view piece : pieces) {
          Value data(Object{{"item_id", item_id},
                            {"output_index", out_index},
                            {"content_index", at},
                            {"delta", Value(piece)}});
          if (lp != nullptr) data.Set("logprobs", whole ? *lp : Value(Array{}));
          em->Emit("response.output_text.delta", std::move(data.as_object()));
        }
        if (const Value* anns = part.Find("annotations"); anns != nullptr && anns->is_array()) {
          for (size_t a = 0; a < anns->as_array().size(); ++a) {
            em->Emit("response.output_text.annotation.added",
                     {{"item_id", item_id},
                      {"output_index", out_index},
                      {"content_index", at},
                      {"annotation_index", Value(static_cast<int64_t>(a))},
                      {"annotation", anns->as_array()[a]}});
          }
        }
        Value done(Object{{"item_id", item_id},
                          {"output_index", out_index},
                          {"content_index", at},
                          {"text", Value(text)}});
        if (lp != nullptr) done.Set("logprobs", *lp);
        em->Emit("response.output_text.done", std::move(done.as_object()));
      } else if (type == "refusal") {
        added_part("refusal");
        const std::string_view refusal = part.GetString("refusal");
        for (std::string_view piece : SplitPieces(refusal)) {
          em->Emit("response.refusal.delta", {{"item_id", item_id},
                                              {"output_index", out_index},
                                              {"content_index", at},
                                              {"delta", Value(piece)}});
        }
        em->Emit("response.refusal.done", {{"item_id", item_id},
                                           {"output_index", out_index},
                                           {"content_index", at},
                                           {"refusal", Value(refusal)}});
      } else {
        em->Emit("response.content_part.added", {{"item_id", item_id},
                                                 {"output_index", out_index},
                                                 {"content_index", at},
                                                 {"part", part}});
      }
      em->Emit("response.content_part.done", {{"item_id", item_id},
                                              {"output_index", out_index},
                                              {"content_index", at},
                                              {"part", part}});
    }
  }
  em->Emit("response.output_item.done", {{"output_index", out_index}, {"item", item}});
}

// function_call (arguments) and custom_tool_call (input): the text streams in deltas.
void ExplodeToolCall(const Value& item, const Value& out_index, const char* text_key,
                     std::string_view event_prefix, Emitter* em) {
  const Value item_id = GetOrNull(item, "id");
  const std::string_view text = item.GetString(text_key);
  em->Emit("response.output_item.added",
           {{"output_index", out_index}, {"item", InProgress(With(item, text_key, Value("")))}});
  const std::string prefix(event_prefix);
  for (std::string_view piece : SplitPieces(text)) {
    em->Emit(prefix + ".delta",
             {{"item_id", item_id}, {"output_index", out_index}, {"delta", Value(piece)}});
  }
  em->Emit(prefix + ".done",
           {{"item_id", item_id}, {"output_index", out_index}, {text_key, Value(text)}});
  em->Emit("response.output_item.done", {{"output_index", out_index}, {"item", item}});
}

void ExplodeReasoning(const Value& item, const Value& out_index, Emitter* em) {
  const Value item_id = GetOrNull(item, "id");
  const Value* summary = item.Find("summary");
  Value added = InProgress(item);
  if (summary != nullptr) added.Set("summary", Value(Array{}));
  em->Emit("response.output_item.added", {{"output_index", out_index}, {"item", added}});
  if (summary != nullptr && summary->is_array()) {
    const Array& parts = summary->as_array();
    for (size_t j = 0; j < parts.size(); ++j) {
      const Value at(static_cast<int64_t>(j));
      const std::string_view text = parts[j].GetString("text");
      em->Emit("response.reasoning_summary_part.added",
               {{"item_id", item_id},
                {"output_index", out_index},
                {"summary_index", at},
                {"part", With(parts[j], "text", Value(""))}});
      for (std::string_view piece : SplitPieces(text)) {
        em->Emit("response.reasoning_summary_text.delta", {{"item_id", item_id},
                                                           {"output_index", out_index},
                                                           {"summary_index", at},
                                                           {"delta", Value(piece)}});
      }
      em->Emit("response.reasoning_summary_text.done", {{"item_id", item_id},
                                                        {"output_index", out_index},
                                                        {"summary_index", at},
                                                        {"text", Value(text)}});
      em->Emit("response.reasoning_summary_part.done", {{"item_id", item_id},
                                                        {"output_index", out_index},
                                                        {"summary_index", at},
                                                        {"part", parts[j]}});
    }
  }
  em->Emit("response.output_item.done", {{"output_index", out_index}, {"item", item}});
}

}  // namespace

StreamEnd ClassifyResponses(const std::vector<StreamEvent>& events) {
  bool completed = false;
  for (const StreamEvent& e : events) {
    const std::string type = EventType(e);
    if (type == "error" || type == "response.failed") return StreamEnd::kError;
    if (type == "response.completed") completed = true;
  }
  return completed ? StreamEnd::kClean : StreamEnd::kIncomplete;
}

StatusOr<std::string> AssembleResponses(const std::vector<StreamEvent>& events) {
  // The terminal event carries the whole response object; nothing before it needs parsing.
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    const std::string type = EventType(*it);
    if (type == "error" || type == "response.failed") {
      return FailedPreconditionError("stream carries an upstream error: " + it->data);
    }
    if (!IsTerminal(type)) continue;
    DEJA_ASSIGN_OR_RETURN(Value data, ParseEventData(*it));
    const Value* response = data.Find("response");
    if (response == nullptr || !response->is_object()) {
      return InvalidArgumentError(type + " event has no response object");
    }
    return json::Write(*response);
  }
  return FailedPreconditionError("stream has no response.completed event");
}

StatusOr<std::vector<StreamEvent>> ExplodeResponses(const Value& body) {
  const Value* output = body.Find("output");
  if (output == nullptr || !output->is_array()) {
    return InvalidArgumentError("body has no output array");
  }
  // While in progress the response has no output, no usage and no outcome yet.
  Value snapshot = body;
  snapshot.Set("status", Value("in_progress"));
  snapshot.Set("output", Value(Array{}));
  for (const char* key : {"usage", "incomplete_details", "error", "completed_at"}) {
    if (snapshot.Find(key) != nullptr) snapshot.Set(key, Value());
  }
  Emitter em;
  em.Emit("response.created", {{"response", snapshot}});
  em.Emit("response.in_progress", {{"response", snapshot}});
  const Array& items = output->as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    const Value& item = items[i];
    if (!item.is_object()) return InvalidArgumentError("output item is not an object");
    const Value at(static_cast<int64_t>(i));
    const std::string_view type = item.GetString("type");
    if (type == "message") {
      ExplodeMessage(item, at, &em);
    } else if (type == "function_call") {
      ExplodeToolCall(item, at, "arguments", "response.function_call_arguments", &em);
    } else if (type == "custom_tool_call") {
      ExplodeToolCall(item, at, "input", "response.custom_tool_call_input", &em);
    } else if (type == "reasoning") {
      ExplodeReasoning(item, at, &em);
    } else {
      // Built-in tool calls (web_search_call, ...) arrive whole; their progress events are
      // optional for clients.
      em.Emit("response.output_item.added", {{"output_index", at}, {"item", InProgress(item)}});
      em.Emit("response.output_item.done", {{"output_index", at}, {"item", item}});
    }
  }
  const std::string_view status = body.GetString("status", "completed");
  const char* terminal = status == "incomplete" ? "response.incomplete"
                         : status == "failed"   ? "response.failed"
                                                : "response.completed";
  em.Emit(terminal, {{"response", body}});
  return em.Take();
}

Usage ExtractResponsesStreamUsage(const std::vector<StreamEvent>& events) {
  Usage out;
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    const std::string type = EventType(*it);
    if (!IsTerminal(type) && type != "response.created") continue;
    StatusOr<Value> data = json::Parse(it->data);
    if (!data.ok()) continue;
    const Value* response = data->Find("response");
    if (response == nullptr || !response->is_object()) continue;
    out.model = std::string(response->GetString("model"));
    if (const Value* u = response->Find("usage"); u != nullptr && u->is_object()) {
      out.input_tokens = GetInt(*u, "input_tokens");
      out.output_tokens = GetInt(*u, "output_tokens");
    }
    if (IsTerminal(type)) break;
  }
  return out;
}

}  // namespace deja::server::internal
