#include "core/normalize.h"

#include <re2/re2.h>

#include <algorithm>
#include <string>
#include <unordered_map>

namespace deja {
namespace {

// Top-level fields that never change the answer, per route. Everything else is kept.
const std::vector<std::string_view> kOpenAIChatDropped = {
    "stream",           "stream_options",   "user", "metadata", "store", "service_tier",
    "prompt_cache_key", "safety_identifier"};
const std::vector<std::string_view> kOpenAICompletionsDropped = {"stream", "stream_options",
                                                                 "user"};
const std::vector<std::string_view> kEmbeddingsDropped = {"user"};
const std::vector<std::string_view> kResponsesDropped = {
    "stream",           "stream_options",    "user",      "metadata", "store", "service_tier",
    "prompt_cache_key", "safety_identifier", "background"};
const std::vector<std::string_view> kAnthropicDropped = {"stream", "metadata", "service_tier"};
const std::vector<std::string_view> kNoneDropped = {};

// Request headers that select API behaviour and therefore change the answer.
constexpr std::string_view kKeyedHeaders[] = {"anthropic-beta", "anthropic-version", "openai-beta"};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// Parsed RFC 6901 pointer; "*" segments are wildcards.
using Pointer = std::vector<std::string>;

StatusOr<Pointer> ParsePointer(std::string_view text) {
  if (text.empty() || text[0] != '/') {
    return InvalidArgumentError("JSON pointer \"" + std::string(text) + "\" must start with '/'");
  }
  Pointer out;
  size_t pos = 1;
  while (true) {
    size_t end = text.find('/', pos);
    std::string_view raw = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    std::string seg;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        seg += raw[i];
      } else if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        seg += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        return InvalidArgumentError("JSON pointer \"" + std::string(text) +
                                    "\" has a bad '~' escape");
      }
    }
    out.push_back(std::move(seg));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return out;
}

void RemoveAt(json::Value* v, const Pointer& p, size_t depth) {
  const std::string& seg = p[depth];
  const bool last = depth + 1 == p.size();
  if (v->is_object()) {
    json::Object& obj = v->as_object();
    if (seg == "*") {
      if (last) {
        obj.clear();
      } else {
        for (auto& [name, child] : obj) RemoveAt(&child, p, depth + 1);
      }
      return;
    }
    if (last) {
      v->Erase(seg);
    } else if (json::Value* child = v->Find(seg)) {
      RemoveAt(child, p, depth + 1);
    }
  } else if (v->is_array()) {
    json::Array& arr = v->as_array();
    if (seg == "*") {
      if (last) {
        arr.clear();
      } else {
        for (auto& child : arr) RemoveAt(&child, p, depth + 1);
      }
      return;
    }
    if (seg.empty() || seg.size() > 9 || !std::all_of(seg.begin(), seg.end(), ::isdigit)) return;
    size_t index = std::stoul(seg);
    if (index >= arr.size()) return;
    if (last) {
      arr.erase(arr.begin() + static_cast<std::ptrdiff_t>(index));
    } else {
      RemoveAt(&arr[index], p, depth + 1);
    }
  }
}

// Maps provider-assigned ids to positional aliases in order of first appearance.
class IdAliaser {
 public:
  explicit IdAliaser(std::string_view prefix) : prefix_(prefix) {}
  void Rewrite(json::Value* v) {
    if (v == nullptr || !v->is_string()) return;
    auto [it, inserted] = aliases_.try_emplace(v->as_string(), "");
    if (inserted) it->second = prefix_ + std::to_string(aliases_.size() - 1);
    v->as_string() = it->second;
  }

 private:
  std::string prefix_;
  std::unordered_map<std::string, std::string> aliases_;
};

json::Value* FindArray(json::Value& v, std::string_view key) {
  json::Value* a = v.Find(key);
  return a != nullptr && a->is_array() ? a : nullptr;
}

void AliasChatToolIds(json::Value& body) {
  json::Value* messages = FindArray(body, "messages");
  if (messages == nullptr) return;
  IdAliaser ids("call_");
  for (json::Value& m : messages->as_array()) {
    if (!m.is_object()) continue;
    if (json::Value* calls = FindArray(m, "tool_calls")) {
      for (json::Value& c : calls->as_array()) {
        if (c.is_object()) ids.Rewrite(c.Find("id"));
      }
    }
    ids.Rewrite(m.Find("tool_call_id"));
  }
}

void AliasAnthropicToolIds(json::Value& body) {
  json::Value* messages = FindArray(body, "messages");
  if (messages == nullptr) return;
  IdAliaser ids("toolu_");
  for (json::Value& m : messages->as_array()) {
    json::Value* content = m.is_object() ? FindArray(m, "content") : nullptr;
    if (content == nullptr) continue;
    for (json::Value& block : content->as_array()) {
      if (!block.is_object()) continue;
      std::string_view type = block.GetString("type");
      if (type.size() >= 8 && type.substr(type.size() - 8) == "tool_use")
        ids.Rewrite(block.Find("id"));
      ids.Rewrite(block.Find("tool_use_id"));
    }
  }
}

void AliasResponsesIds(json::Value& body) {
  json::Value* input = FindArray(body, "input");
  if (input == nullptr) return;
  IdAliaser calls("call_");
  IdAliaser items("item_");
  for (json::Value& item : input->as_array()) {
    if (!item.is_object()) continue;
    calls.Rewrite(item.Find("call_id"));
    // Ids of replayed output items (msg_…, fc_…) are assigned by the provider per response.
    std::string_view type = item.GetString("type");
    if (type == "message" || type == "function_call") items.Rewrite(item.Find("id"));
  }
}

// Anthropic prompt-caching markers change cost, never the answer.
void DropCacheControl(json::Value* v) {
  if (v == nullptr) return;
  if (v->is_object()) {
    v->Erase("cache_control");
    for (auto& [name, child] : v->as_object()) {
      if (child.is_array() || child.is_object()) DropCacheControl(&child);
    }
  } else if (v->is_array()) {
    for (json::Value& child : v->as_array()) DropCacheControl(&child);
  }
}

}  // namespace

struct Normalizer::Rules {
  std::vector<Pointer> ignore;
  std::vector<std::unique_ptr<RE2>> strip;
  bool alias_ids = true;

  void StripText(json::Value* v) const {
    if (v == nullptr) return;
    if (v->is_string()) {
      for (const auto& re : strip) RE2::GlobalReplace(&v->as_string(), *re, "");
    } else if (v->is_array()) {
      for (json::Value& part : v->as_array()) {
        if (part.is_string()) {
          StripText(&part);
        } else if (part.is_object()) {
          StripText(part.Find("text"));
          StripText(part.Find("content"));  // Responses input items, Anthropic tool results
        }
      }
    }
  }

  void StripMessages(json::Value* messages) const {
    if (messages == nullptr) return;
    if (!messages->is_array()) {
      StripText(messages);
      return;
    }
    for (json::Value& m : messages->as_array()) {
      if (m.is_object()) StripText(m.Find("content"));
    }
  }
};

Normalizer::Normalizer(std::unique_ptr<Rules> rules) : rules_(std::move(rules)) {}
Normalizer::~Normalizer() = default;

StatusOr<std::unique_ptr<Normalizer>> Normalizer::Create(const NormalizeOptions& options) {
  auto rules = std::make_unique<Rules>();
  for (const std::string& p : options.ignore_pointers) {
    DEJA_ASSIGN_OR_RETURN(Pointer parsed, ParsePointer(p));
    rules->ignore.push_back(std::move(parsed));
  }
  for (const std::string& pattern : options.strip_patterns) {
    RE2::Options re_options;
    re_options.set_log_errors(false);
    auto re = std::make_unique<RE2>(pattern, re_options);
    if (!re->ok()) {
      return InvalidArgumentError("strip pattern \"" + pattern +
                                  "\" does not compile: " + re->error());
    }
    rules->strip.push_back(std::move(re));
  }
  rules->alias_ids = options.alias_tool_call_ids;
  return std::unique_ptr<Normalizer>(new Normalizer(std::move(rules)));
}

const std::vector<std::string_view>& DroppedFields(Route route) {
  switch (route) {
    case Route::kChatCompletions:
      return kOpenAIChatDropped;
    case Route::kCompletions:
      return kOpenAICompletionsDropped;
    case Route::kEmbeddings:
      return kEmbeddingsDropped;
    case Route::kResponses:
      return kResponsesDropped;
    case Route::kAnthropicMessages:
      return kAnthropicDropped;
    case Route::kOther:
      break;
  }
  return kNoneDropped;
}

StatusOr<NormalizedRequest> Normalizer::Normalize(
    Route route, json::Value body,
    const std::vector<std::pair<std::string, std::string>>& headers) const {
  if (!body.is_object()) return InvalidArgumentError("request body must be a JSON object");
  NormalizedRequest out;
  out.model = std::string(body.GetString("model"));
  if (const json::Value* s = body.Find("stream"); s != nullptr && s->is_bool()) {
    out.stream = s->as_bool();
  }
  if (const json::Value* so = body.Find("stream_options"); so != nullptr && so->is_object()) {
    if (const json::Value* iu = so->Find("include_usage"); iu != nullptr && iu->is_bool()) {
      out.include_usage = iu->as_bool();
    }
  }
  for (std::string_view field : DroppedFields(route)) body.Erase(field);

  switch (route) {
    case Route::kChatCompletions:
      if (rules_->alias_ids) AliasChatToolIds(body);
      if (!rules_->strip.empty()) rules_->StripMessages(body.Find("messages"));
      break;
    case Route::kCompletions:
      if (!rules_->strip.empty()) rules_->StripText(body.Find("prompt"));
      break;
    case Route::kResponses:
      if (rules_->alias_ids) AliasResponsesIds(body);
      if (!rules_->strip.empty()) {
        rules_->StripText(body.Find("instructions"));
        rules_->StripMessages(body.Find("input"));
      }
      break;
    case Route::kAnthropicMessages:
      DropCacheControl(body.Find("system"));
      DropCacheControl(body.Find("messages"));
      DropCacheControl(body.Find("tools"));
      if (rules_->alias_ids) AliasAnthropicToolIds(body);
      if (!rules_->strip.empty()) {
        rules_->StripText(body.Find("system"));
        rules_->StripMessages(body.Find("messages"));
      }
      break;
    case Route::kEmbeddings:
    case Route::kOther:
      break;
  }
  for (const Pointer& p : rules_->ignore) RemoveAt(&body, p, 0);

  // Answer-affecting headers are keyed beside the body (framed separately in the key, so no body
  // can collide with a header set).
  json::Value keyed_headers = json::Value::MakeObject();
  for (std::string_view name : kKeyedHeaders) {
    for (const auto& [hname, hvalue] : headers) {
      if (EqualsIgnoreCase(hname, name)) keyed_headers.Set(std::string(name), json::Value(hvalue));
    }
  }
  if (!keyed_headers.as_object().empty()) out.keyed_headers = json::WriteCanonical(keyed_headers);
  out.canonical = json::WriteCanonical(body);
  out.body = std::move(body);
  return out;
}

}  // namespace deja
