// OpenAI chat completions and legacy completions: `data: {chunk}` events ending in `data: [DONE]`.
//
// Chat chunks are `chat.completion.chunk` objects whose choices carry a `delta` (role first, then
// content / refusal pieces, or tool_calls fragments keyed by index); legacy completion chunks are
// `text_completion` objects whose choices carry `text`. The last chunk of each choice has its
// finish_reason; with stream_options.include_usage a chunk with empty choices and the usage
// follows, and then every other chunk has `"usage": null`.
#include <map>
#include <utility>

#include "server/stream_convert_internal.h"

namespace deja::server::internal {

namespace {

using json::Array;
using json::Object;
using json::Value;

bool IsAcceptedFinish(const Value& reason) {
  if (!reason.is_string()) return false;
  const std::string& r = reason.as_string();
  return r == "stop" || r == "tool_calls" || r == "function_call" || r == "length";
}

bool HasError(const Value& chunk) {
  const Value* err = chunk.Find("error");
  return err != nullptr && !err->is_null();
}

// Some compatible servers open with placeholder header fields ("", 0) that later chunks fill in.
bool IsBlank(const Value& v) {
  return v.is_null() || (v.is_string() && v.as_string().empty()) ||
         (v.is_number() && v.as_number() == 0);
}

// Merges one streamed fragment into the accumulated object: identifiers (id, name, type) are
// replaced by a later non-empty value, as the openai SDK's accumulator does; other strings
// (arguments, audio data, transcripts) are concatenated; nested objects merge recursively; anything
// else takes the latest non-null value. `index` only addresses the fragment and is dropped.
void MergeFragment(Value* acc, const Value& frag) {
  for (const auto& [key, v] : frag.as_object()) {
    if (key == "index") continue;
    Value* cur = acc->Find(key);
    if (cur == nullptr || cur->is_null()) {
      acc->Set(key, v);
    } else if (key == "id" || key == "name" || key == "type" || key == "role") {
      if (v.is_string() && !v.as_string().empty()) *cur = v;
    } else if (v.is_string() && cur->is_string()) {
      cur->as_string() += v.as_string();
    } else if (v.is_object() && cur->is_object()) {
      MergeFragment(cur, v);
    } else if (!v.is_null()) {
      *cur = v;
    }
  }
}

// Logprobs arrive per chunk ({"content": [...], "refusal": null} for chat; parallel arrays tokens /
// token_logprobs / top_logprobs / text_offset for completions): arrays concatenate.
void MergeLogprobs(Value* acc, const Value& lp) {
  if (!acc->is_object() || !lp.is_object()) {
    *acc = lp;
    return;
  }
  for (const auto& [key, v] : lp.as_object()) {
    Value* cur = acc->Find(key);
    if (cur == nullptr || cur->is_null()) {
      acc->Set(key, v);
    } else if (v.is_array() && cur->is_array()) {
      for (const Value& item : v.as_array()) cur->Push(item);
    } else if (!v.is_null()) {
      *cur = v;
    }
  }
}

struct ChoiceAcc {
  Value message = Value::MakeObject();  // chat: members in first-seen order
  std::map<int64_t, Value> tool_calls;  // chat: by tool call index
  std::string text;                     // completions
  bool has_logprobs = false;            // some chunk had the member (older bodies lack it)
  Value logprobs;
  Value finish_reason;
  Value extras = Value::MakeObject();  // other choice members (e.g. Azure content_filter_results)
};

void MergeDelta(const Value& delta, ChoiceAcc* acc) {
  for (const auto& [key, v] : delta.as_object()) {
    if (key == "obfuscation") continue;  // per-chunk padding against length side channels
    if (key == "tool_calls" && v.is_array()) {
      // Placeholder keeps the member's position; filled when the choice is finished.
      if (acc->message.Find("tool_calls") == nullptr) acc->message.Set("tool_calls", Value());
      const Array& calls = v.as_array();
      for (size_t i = 0; i < calls.size(); ++i) {
        if (!calls[i].is_object()) continue;
        const Value* index = calls[i].Find("index");
        int64_t at = index != nullptr && index->is_number() ? GetInt(calls[i], "index")
                                                            : static_cast<int64_t>(i);
        auto [it, inserted] = acc->tool_calls.try_emplace(at, Value::MakeObject());
        MergeFragment(&it->second, calls[i]);
      }
    } else if (key == "annotations" && v.is_array()) {
      Value* cur = acc->message.Find("annotations");
      if (cur == nullptr || !cur->is_array()) {
        acc->message.Set("annotations", v);
      } else {
        for (const Value& a : v.as_array()) cur->Push(a);
      }
    } else {
      MergeFragment(&acc->message, Value(Object{{key, v}}));
    }
  }
}

void MergeChoice(bool chat, const Value& choice, ChoiceAcc* acc) {
  for (const auto& [key, v] : choice.as_object()) {
    if (key == "index") continue;
    if (chat && key == "delta") {
      if (v.is_object()) MergeDelta(v, acc);
    } else if (!chat && key == "text") {
      if (v.is_string()) acc->text += v.as_string();
    } else if (key == "logprobs") {
      acc->has_logprobs = true;
      if (!v.is_null()) MergeLogprobs(&acc->logprobs, v);
    } else if (key == "finish_reason") {
      if (!v.is_null()) acc->finish_reason = v;
    } else {
      MergeFragment(&acc->extras, Value(Object{{key, v}}));
    }
  }
}

// A tool call as the non-stream body has it: id, type, then the payload (function / custom).
Value FinishToolCall(const Value& acc) {
  Value call = Value::MakeObject();
  call.Set("id", GetOrNull(acc, "id"));
  const Value* type = acc.Find("type");
  call.Set("type", type != nullptr && !type->is_null() ? *type : Value("function"));
  for (const auto& [key, v] : acc.as_object()) {
    if (key != "id" && key != "type") call.Set(key, v);
  }
  return call;
}

Value FinishChoice(bool chat, int64_t index, ChoiceAcc& acc) {
  Value choice = Value::MakeObject();
  if (chat) {
    choice.Set("index", Value(index));
    Object& msg = acc.message.as_object();
    if (acc.message.Find("content") == nullptr) msg.insert(msg.begin(), {"content", Value()});
    if (acc.message.Find("role") == nullptr) msg.insert(msg.begin(), {"role", Value("assistant")});
    if (!acc.tool_calls.empty()) {
      Array calls;
      for (const auto& [at, call] : acc.tool_calls) calls.push_back(FinishToolCall(call));
      acc.message.Set("tool_calls", Value(std::move(calls)));
    }
    choice.Set("message", std::move(acc.message));
  } else {
    choice.Set("text", Value(acc.text));
    choice.Set("index", Value(index));
  }
  if (acc.has_logprobs) choice.Set("logprobs", std::move(acc.logprobs));
  choice.Set("finish_reason", std::move(acc.finish_reason));
  for (auto& [key, v] : acc.extras.as_object()) choice.Set(key, std::move(v));
  return choice;
}

Status UpstreamError(const StreamEvent& e) {
  return FailedPreconditionError("stream carries an upstream error: " + e.data);
}

// Serializes chunks that share the body's header members (id, object, created, model,
// system_fingerprint, ...) without re-serializing the header each time.
class ChunkWriter {
 public:
  ChunkWriter(const Value& header, bool include_usage) {
    prefix_ = json::Write(header);
    prefix_.pop_back();  // '}'
    if (prefix_.size() > 1) prefix_.push_back(',');
    prefix_ += "\"choices\":[";
    suffix_ = include_usage ? "],\"usage\":null}" : "]}";
  }
  StreamEvent Chunk(const Value& choice) const {
    std::string data = prefix_;
    json::AppendWrite(choice, &data);
    data += suffix_;
    return StreamEvent{"", std::move(data)};
  }
  StreamEvent UsageChunk(const Value& usage) const {
    std::string data = prefix_;
    data += "],\"usage\":";
    json::AppendWrite(usage, &data);
    data += '}';
    return StreamEvent{"", std::move(data)};
  }

 private:
  std::string prefix_;
  std::string suffix_;
};

// Text pieces; a single piece when logprobs ride along, since they cannot be split with the text.
std::vector<std::string_view> Pieces(std::string_view text, bool whole) {
  if (text.empty()) return {};
  if (whole) return {text};
  return SplitPieces(text);
}

// One choice of a chunk: `head` (index and delta or text), logprobs when the body's choice has the
// member at all, and finish_reason. The last chunk of a choice carries its finish_reason and the
// choice's other members (e.g. content_filter_results).
Value ChoiceChunk(const Value& c, std::string_view content_key, Object head, Value logprobs,
                  bool last) {
  Value choice(std::move(head));
  if (c.Find("logprobs") != nullptr) choice.Set("logprobs", std::move(logprobs));
  choice.Set("finish_reason", last ? GetOrNull(c, "finish_reason") : Value());
  if (last) {
    for (const auto& [key, val] : c.as_object()) {
      if (key != "index" && key != content_key && key != "logprobs" && key != "finish_reason") {
        choice.Set(key, val);
      }
    }
  }
  return choice;
}

Status ExplodeChatChoice(const Value& c, int64_t index, const ChunkWriter& w,
                         std::vector<StreamEvent>* out) {
  const Value* msg = c.Find("message");
  if (msg == nullptr || !msg->is_object()) {
    return InvalidArgumentError("chat completion choice has no message object");
  }
  const Value logprobs = GetOrNull(c, "logprobs");
  std::vector<Value> deltas;
  // The role delta opens the choice and carries the members the stream has no pieces for.
  Value first = Value::MakeObject();
  std::string_view role = msg->GetString("role", "assistant");
  first.Set("role", Value(role));
  std::string_view content, refusal;
  const Value* v = msg->Find("content");
  if (v != nullptr && v->is_string()) {
    content = v->as_string();
    first.Set("content", Value(""));
  } else {
    first.Set("content", v != nullptr ? *v : Value());
  }
  if (v = msg->Find("refusal"); v != nullptr) {
    if (v->is_string()) refusal = v->as_string();
    first.Set("refusal", v->is_string() ? Value("") : *v);
  }
  for (const auto& [key, val] : msg->as_object()) {
    if (key != "role" && key != "content" && key != "refusal" && key != "tool_calls" &&
        key != "function_call" && key != "annotations" && key != "audio") {
      first.Set(key, val);
    }
  }
  deltas.push_back(std::move(first));
  for (std::string_view p : Pieces(content, !logprobs.is_null())) {
    deltas.push_back(Value(Object{{"content", Value(p)}}));
  }
  for (std::string_view p : Pieces(refusal, !logprobs.is_null())) {
    deltas.push_back(Value(Object{{"refusal", Value(p)}}));
  }
  // Annotations, audio and logprobs describe the text, so they go with its last piece.
  const size_t text_tail = deltas.size() - 1;
  if (v = msg->Find("annotations"); v != nullptr) deltas[text_tail].Set("annotations", *v);
  if (v = msg->Find("audio"); v != nullptr) deltas[text_tail].Set("audio", *v);

  if (v = msg->Find("tool_calls"); v != nullptr && v->is_array()) {
    const Array& calls = v->as_array();
    for (size_t j = 0; j < calls.size(); ++j) {
      if (!calls[j].is_object()) return InvalidArgumentError("tool call is not an object");
      const Value at(static_cast<int64_t>(j));
      // The first fragment has everything but the argument text (function.arguments, or
      // custom.input for custom tools), which follows in pieces.
      Value head(Object{{"index", at}});
      std::string payload_key, text_key;
      std::string_view text;
      for (const auto& [key, val] : calls[j].as_object()) {
        if (key == "index") continue;
        if (val.is_object() && payload_key.empty()) {
          for (const char* k : {"arguments", "input"}) {
            const Value* t = val.Find(k);
            if (t != nullptr && t->is_string()) {
              payload_key = key;
              text_key = k;
              text = t->as_string();
              head.Set(key, With(val, k, Value("")));
              break;
            }
          }
          if (!payload_key.empty()) continue;
        }
        head.Set(key, val);
      }
      deltas.push_back(Value(Object{{"tool_calls", Value(Array{std::move(head)})}}));
      for (std::string_view p : Pieces(text, false)) {
        Value frag(Object{{"index", at}, {payload_key, Value(Object{{text_key, Value(p)}})}});
        deltas.push_back(Value(Object{{"tool_calls", Value(Array{std::move(frag)})}}));
      }
    }
  }
  if (v = msg->Find("function_call"); v != nullptr && v->is_object()) {  // pre-tools API
    std::string_view args = v->GetString("arguments");
    deltas.push_back(Value(Object{{"function_call", With(*v, "arguments", Value(""))}}));
    for (std::string_view p : Pieces(args, false)) {
      deltas.push_back(Value(Object{{"function_call", Value(Object{{"arguments", Value(p)}})}}));
    }
  }

  for (size_t i = 0; i < deltas.size(); ++i) {
    out->push_back(w.Chunk(ChoiceChunk(c, "message",
                                       {{"index", Value(index)}, {"delta", std::move(deltas[i])}},
                                       i == text_tail ? logprobs : Value(), false)));
  }
  out->push_back(w.Chunk(ChoiceChunk(
      c, "message", {{"index", Value(index)}, {"delta", Value::MakeObject()}}, Value(), true)));
  return Status::Ok();
}

void ExplodeCompletionChoice(const Value& c, int64_t index, const ChunkWriter& w,
                             std::vector<StreamEvent>* out) {
  const Value logprobs = GetOrNull(c, "logprobs");
  std::vector<std::string_view> pieces = Pieces(c.GetString("text"), !logprobs.is_null());
  for (std::string_view p : pieces) {
    out->push_back(w.Chunk(
        ChoiceChunk(c, "text", {{"text", Value(p)}, {"index", Value(index)}}, logprobs, false)));
  }
  out->push_back(w.Chunk(ChoiceChunk(c, "text", {{"text", Value("")}, {"index", Value(index)}},
                                     pieces.empty() ? logprobs : Value(), true)));
}

}  // namespace

StreamEnd ClassifyOpenAI(Route /*route*/, const std::vector<StreamEvent>& events) {
  bool done = false;
  std::map<int64_t, bool> choices;  // index -> finished with an accepted reason
  for (const StreamEvent& e : events) {
    if (e.event == "error") return StreamEnd::kError;
    if (e.data == kDone) {
      done = true;
      break;
    }
    StatusOr<Value> chunk = json::Parse(e.data);
    if (!chunk.ok() || !chunk->is_object()) return StreamEnd::kIncomplete;
    if (HasError(*chunk)) return StreamEnd::kError;
    const Value* list = chunk->Find("choices");
    if (list == nullptr || !list->is_array()) continue;
    for (const Value& c : list->as_array()) {
      bool& finished = choices[GetInt(c, "index")];
      const Value* reason = c.Find("finish_reason");
      if (reason != nullptr && !reason->is_null()) finished = IsAcceptedFinish(*reason);
    }
  }
  if (!done || choices.empty()) return StreamEnd::kIncomplete;
  for (const auto& [index, finished] : choices) {
    if (!finished) return StreamEnd::kIncomplete;
  }
  return StreamEnd::kClean;
}

StatusOr<std::string> AssembleOpenAI(Route route, const std::vector<StreamEvent>& events) {
  const bool chat = route == Route::kChatCompletions;
  Value header = Value::MakeObject();
  Value usage;
  std::map<int64_t, ChoiceAcc> choices;
  size_t chunks = 0;
  for (const StreamEvent& e : events) {
    if (e.event == "error") return UpstreamError(e);
    if (e.data == kDone) break;
    DEJA_ASSIGN_OR_RETURN(Value chunk, ParseEventData(e));
    if (HasError(chunk)) return UpstreamError(e);
    ++chunks;
    for (const auto& [key, v] : chunk.as_object()) {
      if (key == "choices") {
        if (!v.is_array()) continue;
        const Array& list = v.as_array();
        for (size_t i = 0; i < list.size(); ++i) {
          if (!list[i].is_object()) continue;
          const Value* index = list[i].Find("index");
          int64_t at = index != nullptr && index->is_number() ? GetInt(list[i], "index")
                                                              : static_cast<int64_t>(i);
          MergeChoice(chat, list[i], &choices[at]);
        }
      } else if (key == "usage") {
        if (!v.is_null()) usage = v;
      } else if (key != "object" && key != "obfuscation") {
        Value* cur = header.Find(key);
        if (cur == nullptr) {
          header.Set(key, v);
        } else if (IsBlank(*cur) && !IsBlank(v)) {
          *cur = v;
        }
      }
    }
  }
  if (chunks == 0) return FailedPreconditionError("stream has no chunks");

  // Member order follows OpenAI's bodies: id, object, created, model, choices, usage, the rest.
  Value body = Value::MakeObject();
  if (const Value* id = header.Find("id")) body.Set("id", *id);
  body.Set("object", Value(chat ? "chat.completion" : "text_completion"));
  for (const char* key : {"created", "model"}) {
    if (const Value* v = header.Find(key)) body.Set(key, *v);
  }
  Array list;
  for (auto& [index, acc] : choices) list.push_back(FinishChoice(chat, index, acc));
  body.Set("choices", Value(std::move(list)));
  if (!usage.is_null()) body.Set("usage", std::move(usage));
  for (auto& [key, v] : header.as_object()) {
    if (key != "id" && key != "created" && key != "model") body.Set(key, std::move(v));
  }
  return json::Write(body);
}

StatusOr<std::vector<StreamEvent>> ExplodeOpenAI(Route route, const Value& body,
                                                 bool include_usage) {
  const bool chat = route == Route::kChatCompletions;
  const Value* choices = body.Find("choices");
  if (choices == nullptr || !choices->is_array()) {
    return InvalidArgumentError("body has no choices array");
  }
  const Value usage = GetOrNull(body, "usage");
  if (include_usage && usage.is_null()) {
    return FailedPreconditionError("stream_options.include_usage asked but the body has no usage");
  }
  const char* chunk_object = chat ? "chat.completion.chunk" : "text_completion";
  Value header = Value::MakeObject();
  for (const auto& [key, v] : body.as_object()) {
    if (key == "object") {
      header.Set(key, Value(chunk_object));
    } else if (key != "choices" && key != "usage") {
      header.Set(key, v);
    }
  }
  if (header.Find("object") == nullptr) header.Set("object", Value(chunk_object));
  const ChunkWriter writer(header, include_usage);

  std::vector<StreamEvent> out;
  const Array& list = choices->as_array();
  for (size_t i = 0; i < list.size(); ++i) {
    const Value& c = list[i];
    if (!c.is_object()) return InvalidArgumentError("choice is not an object");
    const Value* index = c.Find("index");
    int64_t at =
        index != nullptr && index->is_number() ? GetInt(c, "index") : static_cast<int64_t>(i);
    if (chat) {
      DEJA_RETURN_IF_ERROR(ExplodeChatChoice(c, at, writer, &out));
    } else {
      ExplodeCompletionChoice(c, at, writer, &out);
    }
  }
  if (include_usage) out.push_back(writer.UsageChunk(usage));
  out.push_back(StreamEvent{"", std::string(kDone)});
  return out;
}

StatusOr<std::vector<StreamEvent>> AdaptOpenAIUsage(const std::vector<StreamEvent>& events,
                                                    bool include_usage) {
  // A chunk whose data never mentions "usage" needs no parsing when usage is being removed.
  auto mentions_usage = [](const StreamEvent& e) {
    return e.data.find("\"usage\"") != std::string::npos;
  };
  auto is_usage_chunk = [](const Value& chunk) {
    const Value* list = chunk.Find("choices");
    const Value* usage = chunk.Find("usage");
    return list != nullptr && list->is_array() && list->as_array().empty() && usage != nullptr &&
           !usage->is_null();
  };
  std::vector<StreamEvent> out;
  out.reserve(events.size() + 1);
  if (!include_usage) {
    for (const StreamEvent& e : events) {
      if (e.data == kDone || !mentions_usage(e)) {
        out.push_back(e);
        continue;
      }
      DEJA_ASSIGN_OR_RETURN(Value chunk, ParseEventData(e));
      if (is_usage_chunk(chunk)) continue;
      chunk.Erase("usage");
      out.push_back(MakeEvent(e.event, chunk));
    }
    return out;
  }

  Value usage;
  bool has_usage_chunk = false;
  for (const StreamEvent& e : events) {
    if (e.data == kDone || !mentions_usage(e)) continue;
    DEJA_ASSIGN_OR_RETURN(Value chunk, ParseEventData(e));
    if (const Value* u = chunk.Find("usage"); u != nullptr && !u->is_null()) usage = *u;
    if (is_usage_chunk(chunk)) has_usage_chunk = true;
  }
  if (usage.is_null()) {
    return FailedPreconditionError(
        "stream_options.include_usage asked but the stored stream has no usage");
  }
  Value last_header = Value::MakeObject();
  auto synthesize = [&]() {
    Value chunk = Value::MakeObject();
    for (const auto& [key, v] : last_header.as_object()) {
      if (key != "choices" && key != "usage" && key != "obfuscation") chunk.Set(key, v);
    }
    chunk.Set("choices", Value::MakeArray());
    chunk.Set("usage", usage);
    return MakeEvent("", chunk);
  };
  for (const StreamEvent& e : events) {
    if (e.data == kDone) {
      if (!has_usage_chunk) out.push_back(synthesize());
      has_usage_chunk = true;
      out.push_back(e);
      continue;
    }
    DEJA_ASSIGN_OR_RETURN(Value chunk, ParseEventData(e));
    const Value* u = chunk.Find("usage");
    if (is_usage_chunk(chunk) || (u != nullptr && u->is_null())) {
      out.push_back(e);  // already as OpenAI sends it
    } else {
      chunk.Set("usage", Value());  // usage on a choice chunk moves to the usage chunk
      out.push_back(MakeEvent(e.event, chunk));
    }
    last_header = std::move(chunk);
  }
  if (!has_usage_chunk) out.push_back(synthesize());  // stream without [DONE]
  return out;
}

Usage ExtractOpenAIStreamUsage(const std::vector<StreamEvent>& events) {
  Usage out;
  for (const StreamEvent& e : events) {
    if (e.data == kDone) break;
    const bool mentions_usage = e.data.find("\"usage\"") != std::string::npos;
    if (!out.model.empty() && !mentions_usage) continue;
    StatusOr<Value> chunk = json::Parse(e.data);
    if (!chunk.ok() || !chunk->is_object()) continue;
    if (out.model.empty()) out.model = std::string(chunk->GetString("model"));
    if (const Value* u = chunk->Find("usage"); u != nullptr && u->is_object()) {
      out.input_tokens = GetInt(*u, "prompt_tokens");
      out.output_tokens = GetInt(*u, "completion_tokens");
    }
  }
  return out;
}

}  // namespace deja::server::internal
