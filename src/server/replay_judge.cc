#include "server/replay_judge.h"

#include <cctype>
#include <string>
#include <utility>

namespace deja::server {
namespace {

using json::Value;

constexpr std::string_view kRubric =
    "You are a strict evaluator for regression tests of an LLM application ";  // + marker
constexpr std::string_view kRubricRest =
    ". You get a question, a reference answer recorded earlier and a new answer to the same "
    "question. Decide whether the new answer is equivalent to the reference: it states the same "
    "facts, decisions, numbers, tool calls (names and arguments) and conclusions, so a user or a "
    "program relying on the reference would be served equally well. Differences in wording, "
    "formatting, order of independent points or ids do not matter; missing, extra or contradicting "
    "content does. Reply with only a JSON object, no other text: "
    "{\"equivalent\": true or false, \"reason\": \"one short sentence\"}";

// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence.
std::string Truncate(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "…[truncated]";
}

// Text of a content value: a string, or the text of its parts (tool results and tool calls named).
std::string ContentText(const Value& content) {
  if (content.is_string()) return content.as_string();
  if (!content.is_array()) return content.is_null() ? "" : json::Write(content);
  std::string out;
  for (const Value& part : content.as_array()) {
    std::string piece;
    if (part.is_string()) {
      piece = part.as_string();
    } else if (const Value* text = part.Find("text"); text != nullptr && text->is_string()) {
      piece = text->as_string();
    } else if (const Value* inner = part.Find("content"); inner != nullptr) {
      piece = "[" + std::string(part.GetString("type", "part")) + "] " + ContentText(*inner);
    } else {
      piece = json::Write(part);
    }
    if (!out.empty()) out += "\n";
    out += piece;
  }
  return out;
}

void AppendTurn(std::string_view role, const std::string& text, std::string* out) {
  if (!out->empty()) out->push_back('\n');
  out->append(role);
  out->append(": ");
  out->append(text);
}

void AppendMessages(const Value& messages, std::string* out) {
  for (const Value& m : messages.as_array()) {
    if (!m.is_object()) continue;
    std::string text;
    if (const Value* content = m.Find("content"); content != nullptr) text = ContentText(*content);
    if (const Value* calls = m.Find("tool_calls"); calls != nullptr && calls->is_array()) {
      for (const Value& call : calls->as_array()) {
        const Value* f = call.Find("function");
        if (f == nullptr) continue;
        if (!text.empty()) text += "\n";
        text +=
            std::string(f->GetString("name")) + "(" + std::string(f->GetString("arguments")) + ")";
      }
    }
    if (m.GetString("type") == "function_call_output") text = std::string(m.GetString("output"));
    if (m.GetString("type") == "function_call") {
      text = std::string(m.GetString("name")) + "(" + std::string(m.GetString("arguments")) + ")";
    }
    AppendTurn(m.GetString("role", m.GetString("type", "message")), text, out);
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Index one past the '}' closing the object that starts at text[open], or npos.
size_t MatchingBrace(std::string_view text, size_t open) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

bool Lower(std::string_view s, std::string_view expected) {
  if (s.size() != expected.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != expected[i]) return false;
  }
  return true;
}

// The verdict in `v` when it is an object with a usable "equivalent".
bool VerdictFrom(const Value& v, JudgeVerdict* out) {
  const Value* eq = v.Find("equivalent");
  if (eq == nullptr) return false;
  if (eq->is_bool()) {
    out->equivalent = eq->as_bool();
  } else if (eq->is_string()) {
    const std::string_view s = Trim(eq->as_string());
    if (Lower(s, "true") || Lower(s, "yes")) {
      out->equivalent = true;
    } else if (Lower(s, "false") || Lower(s, "no")) {
      out->equivalent = false;
    } else {
      return false;
    }
  } else {
    return false;
  }
  const Value* reason = v.Find("reason");
  out->reason = reason == nullptr     ? ""
                : reason->is_string() ? reason->as_string()
                                      : json::Write(*reason);
  return true;
}

}  // namespace

std::string QuestionText(Route route, std::string_view request_json) {
  StatusOr<Value> parsed = json::Parse(request_json);
  if (!parsed.ok() || !parsed->is_object()) return std::string(request_json);
  const Value& req = *parsed;
  std::string out;
  if (const Value* system = req.Find("system"); system != nullptr) {
    AppendTurn("system", ContentText(*system), &out);
  }
  if (const Value* instructions = req.Find("instructions");
      instructions != nullptr && instructions->is_string()) {
    AppendTurn("system", instructions->as_string(), &out);
  }
  const Value* messages = req.Find("messages");
  if (messages == nullptr && route == Route::kResponses) messages = req.Find("input");
  if (messages != nullptr && messages->is_array()) {
    AppendMessages(*messages, &out);
  } else if (messages != nullptr && messages->is_string()) {
    AppendTurn("user", messages->as_string(), &out);
  }
  for (std::string_view field : {"prompt", "input"}) {
    const Value* v = req.Find(field);
    if (v == nullptr || v == messages) continue;
    AppendTurn(field, ContentText(*v), &out);
  }
  return out.empty() ? std::string(request_json) : out;
}

json::Value JudgeRequestBody(std::string_view judge_model, std::string_view question,
                             std::string_view reference_answer, std::string_view new_answer) {
  std::string rubric(kRubric);
  rubric += kJudgeRubricMarker;
  rubric += kRubricRest;
  std::string user = "<question>\n" + Truncate(question, kJudgeMaxPartBytes) +
                     "\n</question>\n<reference_answer>\n" +
                     Truncate(reference_answer, kJudgeMaxPartBytes) +
                     "\n</reference_answer>\n<new_answer>\n" +
                     Truncate(new_answer, kJudgeMaxPartBytes) + "\n</new_answer>";
  Value system_message = Value::MakeObject();
  system_message.Set("role", Value("system"));
  system_message.Set("content", Value(std::move(rubric)));
  Value user_message = Value::MakeObject();
  user_message.Set("role", Value("user"));
  user_message.Set("content", Value(std::move(user)));
  Value messages = Value::MakeArray();
  messages.Push(std::move(system_message));
  messages.Push(std::move(user_message));
  Value body = Value::MakeObject();
  body.Set("model", Value(judge_model));
  body.Set("temperature", Value(0));
  body.Set("messages", std::move(messages));
  return body;
}

StatusOr<JudgeVerdict> ParseJudgeVerdict(std::string_view answer_text) {
  JudgeVerdict verdict;
  const std::string_view text = Trim(answer_text);
  if (StatusOr<Value> whole = json::Parse(text); whole.ok() && VerdictFrom(*whole, &verdict)) {
    return verdict;
  }
  for (size_t open = text.find('{'); open != std::string_view::npos;
       open = text.find('{', open + 1)) {
    const size_t end = MatchingBrace(text, open);
    if (end == std::string_view::npos) continue;
    StatusOr<Value> candidate = json::Parse(text.substr(open, end - open));
    if (candidate.ok() && VerdictFrom(*candidate, &verdict)) return verdict;
  }
  return InvalidArgumentError("the judge's answer has no {\"equivalent\": ...} verdict: \"" +
                              Truncate(text, 200) + "\"");
}

}  // namespace deja::server
