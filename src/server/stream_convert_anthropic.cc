// Anthropic Messages: named events whose data carries `type` (equal to the event name).
//
//   message_start        the message with empty content, stop_reason null, input usage
//   content_block_start  a block at `index` (text "", tool_use with input {}, thinking "", ...)
//   content_block_delta  text_delta / input_json_delta (partial_json) / thinking_delta /
//                        signature_delta / citations_delta for the block at `index`
//   content_block_stop
//   message_delta        stop_reason, stop_sequence and cumulative usage (output_tokens, ...)
//   message_stop
// `ping` may appear anywhere; `error` reports a failure mid-stream.
#include <algorithm>
#include <utility>

#include "server/stream_convert_internal.h"

namespace deja::server::internal {

namespace {

using json::Array;
using json::Object;
using json::Value;

std::string EventType(const StreamEvent& e, const Value* data) {
  if (!e.event.empty()) return e.event;
  return data != nullptr ? std::string(data->GetString("type")) : std::string();
}

bool IsAcceptedStop(const Value& reason) {
  if (!reason.is_string()) return false;
  const std::string& r = reason.as_string();
  return r == "end_turn" || r == "tool_use" || r == "stop_sequence" || r == "max_tokens";
}

// Later usage figures (message_delta's are cumulative) replace earlier ones; nulls carry nothing.
void OverlayUsage(const Value& update, Value* usage) {
  if (!update.is_object()) return;
  if (!usage->is_object()) *usage = Value::MakeObject();
  for (const auto& [key, v] : update.as_object()) {
    if (!v.is_null()) usage->Set(key, v);
  }
}

void AppendString(Value* block, const std::string& key, const Value& piece) {
  if (!piece.is_string()) return;
  Value* cur = block->Find(key);
  if (cur != nullptr && cur->is_string()) {
    cur->as_string() += piece.as_string();
  } else {
    block->Set(key, piece);
  }
}

void ApplyDelta(const Value& delta, Value* block, std::string* partial_json) {
  const std::string_view type = delta.GetString("type");
  if (type == "text_delta") {
    AppendString(block, "text", GetOrNull(delta, "text"));
  } else if (type == "input_json_delta") {
    *partial_json += delta.GetString("partial_json");
  } else if (type == "thinking_delta") {
    AppendString(block, "thinking", GetOrNull(delta, "thinking"));
  } else if (type == "signature_delta") {
    AppendString(block, "signature", GetOrNull(delta, "signature"));
  } else if (type == "citations_delta") {
    Value* cur = block->Find("citations");
    if (cur == nullptr || !cur->is_array()) {
      block->Set("citations", Value::MakeArray());
      cur = block->Find("citations");
    }
    cur->Push(GetOrNull(delta, "citation"));
  } else {
    // Unknown delta kinds: strings extend the member of the same name, other values replace it.
    for (const auto& [key, v] : delta.as_object()) {
      if (key == "type") continue;
      if (v.is_string()) {
        AppendString(block, key, v);
      } else {
        block->Set(key, v);
      }
    }
  }
}

// Events in one block of the exploded stream.
class Emitter {
 public:
  void Emit(std::string_view type, Object fields) {
    Value data(Object{{"type", Value(type)}});
    for (auto& [key, v] : fields) data.Set(std::move(key), std::move(v));
    events_.push_back(MakeEvent(type, data));
  }
  void Delta(const Value& index, std::string_view delta_type, const char* key,
             std::string_view text) {
    Emit("content_block_delta",
         {{"index", index},
          {"delta", Value(Object{{"type", Value(delta_type)}, {key, Value(text)}})}});
  }
  std::vector<StreamEvent> Take() { return std::move(events_); }

 private:
  std::vector<StreamEvent> events_;
};

void ExplodeBlock(const Value& block, const Value& index, Emitter* em) {
  const std::string_view type = block.GetString("type");
  const Value* input = block.Find("input");
  if (type == "text") {
    Value start = With(block, "text", Value(""));
    const Value* citations = block.Find("citations");
    const bool stream_citations =
        citations != nullptr && citations->is_array() && !citations->as_array().empty();
    if (stream_citations) start.Erase("citations");
    em->Emit("content_block_start", {{"index", index}, {"content_block", start}});
    if (stream_citations) {
      for (const Value& c : citations->as_array()) {
        em->Emit("content_block_delta",
                 {{"index", index},
                  {"delta", Value(Object{{"type", Value("citations_delta")}, {"citation", c}})}});
      }
    }
    for (std::string_view p : SplitPieces(block.GetString("text"))) {
      em->Delta(index, "text_delta", "text", p);
    }
  } else if (type == "thinking") {
    Value start = With(block, "thinking", Value(""));
    start.Erase("signature");  // arrives as a signature_delta at the end of the block
    em->Emit("content_block_start", {{"index", index}, {"content_block", start}});
    for (std::string_view p : SplitPieces(block.GetString("thinking"))) {
      em->Delta(index, "thinking_delta", "thinking", p);
    }
    if (const Value* sig = block.Find("signature"); sig != nullptr && sig->is_string()) {
      em->Delta(index, "signature_delta", "signature", sig->as_string());
    }
  } else if (input != nullptr && input->is_object()) {
    // tool_use, server_tool_use, mcp_tool_use: input streams as JSON text.
    em->Emit("content_block_start",
             {{"index", index}, {"content_block", With(block, "input", Value::MakeObject())}});
    if (!input->as_object().empty()) {
      const std::string text = json::Write(*input);
      for (std::string_view p : SplitPieces(text)) {
        em->Delta(index, "input_json_delta", "partial_json", p);
      }
    }
  } else {
    // redacted_thinking, tool results, ...: complete in content_block_start.
    em->Emit("content_block_start", {{"index", index}, {"content_block", block}});
  }
  em->Emit("content_block_stop", {{"index", index}});
}

}  // namespace

StreamEnd ClassifyAnthropic(const std::vector<StreamEvent>& events) {
  bool stop_ok = false;
  bool clean = false;
  for (const StreamEvent& e : events) {
    const bool named = !e.event.empty();
    if (named && e.event != "error" && e.event != "message_delta" && e.event != "message_stop") {
      continue;  // the other events cannot change the outcome
    }
    StatusOr<Value> data = json::Parse(e.data);
    const std::string type = EventType(e, data.ok() ? &*data : nullptr);
    if (type == "error") return StreamEnd::kError;
    if (type == "message_delta" && data.ok()) {
      const Value* delta = data->Find("delta");
      stop_ok = delta != nullptr && IsAcceptedStop(GetOrNull(*delta, "stop_reason"));
    } else if (type == "message_stop") {
      clean = stop_ok;
    }
  }
  return clean ? StreamEnd::kClean : StreamEnd::kIncomplete;
}

StatusOr<std::string> AssembleAnthropic(const std::vector<StreamEvent>& events) {
  Value message;
  Value usage;
  std::vector<Value> blocks;
  std::vector<std::string> partial_json;
  for (const StreamEvent& e : events) {
    if (e.event == "ping") continue;
    if (e.event == "error") {
      return FailedPreconditionError("stream carries an upstream error: " + e.data);
    }
    DEJA_ASSIGN_OR_RETURN(Value data, ParseEventData(e));
    const std::string type = EventType(e, &data);
    if (type == "error") {
      return FailedPreconditionError("stream carries an upstream error: " + e.data);
    }
    if (type == "message_start") {
      const Value* m = data.Find("message");
      if (m == nullptr || !m->is_object()) {
        return InvalidArgumentError("message_start has no message object");
      }
      message = *m;
      OverlayUsage(GetOrNull(message, "usage"), &usage);
    } else if (type == "content_block_start" || type == "content_block_delta") {
      const Value* index = data.Find("index");
      if (index == nullptr || !index->is_number() || index->as_number() < 0) {
        return InvalidArgumentError(type + " has no valid index");
      }
      const size_t at = static_cast<size_t>(index->as_number());
      if (at >= blocks.size()) {
        blocks.resize(at + 1);
        partial_json.resize(at + 1);
      }
      if (type == "content_block_start") {
        blocks[at] = GetOrNull(data, "content_block");
      } else if (const Value* delta = data.Find("delta"); delta != nullptr && delta->is_object()) {
        if (!blocks[at].is_object()) blocks[at] = Value::MakeObject();
        ApplyDelta(*delta, &blocks[at], &partial_json[at]);
      }
    } else if (type == "message_delta") {
      if (!message.is_object()) return InvalidArgumentError("message_delta before message_start");
      if (const Value* delta = data.Find("delta"); delta != nullptr && delta->is_object()) {
        for (const auto& [key, v] : delta->as_object()) message.Set(key, v);
      }
      OverlayUsage(GetOrNull(data, "usage"), &usage);
    }
    // content_block_stop, message_stop, ping and unknown events add nothing to the body.
  }
  if (!message.is_object()) return FailedPreconditionError("stream has no message_start event");

  Array content;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].is_null()) continue;
    if (!partial_json[i].empty()) {
      StatusOr<Value> input = json::Parse(partial_json[i]);
      if (!input.ok()) {
        return InvalidArgumentError("tool input of content block " + std::to_string(i) +
                                    " is not JSON: " + input.status().message());
      }
      blocks[i].Set("input", std::move(*input));
    }
    content.push_back(std::move(blocks[i]));
  }
  message.Set("content", Value(std::move(content)));
  if (!usage.is_null()) message.Set("usage", std::move(usage));
  return json::Write(message);
}

StatusOr<std::vector<StreamEvent>> ExplodeAnthropic(const Value& body) {
  const Value* content = body.Find("content");
  if (content == nullptr || !content->is_array()) {
    return InvalidArgumentError("body has no content array");
  }
  const Value usage = GetOrNull(body, "usage");
  Value start = body;
  start.Set("content", Value::MakeArray());
  start.Set("stop_reason", Value());
  start.Set("stop_sequence", Value());
  if (usage.is_object()) {
    // The live API reports a token or so of output at message_start and the cumulative figure in
    // message_delta.
    start.Set("usage", With(usage, "output_tokens",
                            Value(std::min<int64_t>(GetInt(usage, "output_tokens"), 1))));
  }
  Emitter em;
  em.Emit("message_start", {{"message", start}});
  const Array& blocks = content->as_array();
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (!blocks[i].is_object()) return InvalidArgumentError("content block is not an object");
    ExplodeBlock(blocks[i], Value(static_cast<int64_t>(i)), &em);
  }
  Object delta_fields{
      {"delta", Value(Object{{"stop_reason", GetOrNull(body, "stop_reason")},
                             {"stop_sequence", GetOrNull(body, "stop_sequence")}})}};
  if (!usage.is_null()) delta_fields.emplace_back("usage", usage);
  em.Emit("message_delta", std::move(delta_fields));
  em.Emit("message_stop", {});
  return em.Take();
}

Usage ExtractAnthropicStreamUsage(const std::vector<StreamEvent>& events) {
  Usage out;
  Value usage;
  for (const StreamEvent& e : events) {
    const bool named = !e.event.empty();
    if (named && e.event != "message_start" && e.event != "message_delta") continue;
    StatusOr<Value> data = json::Parse(e.data);
    if (!data.ok()) continue;
    const std::string type = EventType(e, &*data);
    if (type == "message_start") {
      const Value message = GetOrNull(*data, "message");
      out.model = std::string(message.GetString("model"));
      OverlayUsage(GetOrNull(message, "usage"), &usage);
    } else if (type == "message_delta") {
      OverlayUsage(GetOrNull(*data, "usage"), &usage);
    }
  }
  ReadAnthropicUsage(usage, &out);
  return out;
}

}  // namespace deja::server::internal
