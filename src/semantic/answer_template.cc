#include "semantic/answer_template.h"

#include <algorithm>
#include <utility>

#include "semantic/text_spans.h"
#include "semantic/word_lists.h"

namespace deja::semantic {
namespace {

bool IsSymbol(const Span& s, std::string_view c) {
  return s.kind == SpanKind::kSymbol && s.value == c;
}

bool InList(std::string_view word, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

// Whether the number at spans[k] is an id: after '#', "number"/"no."/"id", or an id word such as
// "order" or "ticket" (possibly with ':' between).
bool IsIdNumber(const std::vector<Span>& spans, size_t k) {
  bool marker = false;
  size_t steps = 0;
  size_t j = k;
  while (j > 0 && steps < 3) {
    const Span& s = spans[j - 1];
    if (IsSymbol(s, "#")) {
      marker = true;
    } else if (IsSymbol(s, ":") || IsSymbol(s, ".")) {
      // separators: "order: 12345", "no. 7"
    } else if (s.kind == SpanKind::kWord && InList(s.value, {"number", "no", "nr", "num", "id"})) {
      marker = true;
    } else {
      break;
    }
    --j;
    ++steps;
  }
  if (marker) return true;
  if (j == 0 || spans[j - 1].kind != SpanKind::kWord) return false;
  return InList(
      spans[j - 1].value,
      {"order",       "orders",   "ticket",   "invoice",     "account",      "case",     "ref",
       "reference",   "tracking", "booking",  "reservation", "confirmation", "customer", "user",
       "employee",    "item",     "sku",      "pr",          "issue",        "bug",      "incident",
       "transaction", "request",  "shipment", "package",     "parcel",       "flight",   "claim",
       "policy",      "patient",  "member",   "room",        "seat",         "serial",   "part"});
}

void SlotsFromSpans(const std::vector<Span>& spans, std::vector<Slot>* out) {
  out->clear();
  for (size_t k = 0; k < spans.size(); ++k) {
    const Span& s = spans[k];
    Slot slot;
    switch (s.kind) {
      case SpanKind::kNumber:
        slot.kind = IsIdNumber(spans, k) ? SlotKind::kId : SlotKind::kNumber;
        break;
      case SpanKind::kDate:
        slot.kind = SlotKind::kDate;
        break;
      case SpanKind::kUuid:
        slot.kind = SlotKind::kId;
        break;
      case SpanKind::kAlnum:
        if (std::count_if(s.value.begin(), s.value.end(),
                          [](char c) { return c >= '0' && c <= '9'; }) < 3) {
          continue;
        }
        slot.kind = SlotKind::kId;
        break;
      case SpanKind::kEmail:
        slot.kind = SlotKind::kEmail;
        break;
      case SpanKind::kUrl:
        slot.kind = SlotKind::kUrl;
        break;
      case SpanKind::kQuoted:
        slot.kind = SlotKind::kQuoted;
        break;
      case SpanKind::kWord:
      case SpanKind::kDayWord:
      case SpanKind::kSymbol:
        continue;
    }
    slot.begin = s.begin;
    slot.end = s.end;
    slot.value = s.value;
    out->push_back(std::move(slot));
  }
}

// The question with each slot replaced by its kind, lower-cased, spaces collapsed, trailing
// sentence punctuation dropped.
std::string Skeleton(std::string_view text, const std::vector<Slot>& slots) {
  std::string out;
  size_t pos = 0;
  auto append = [&out](std::string_view part) {
    for (char c : part) {
      const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
      if (space) {
        if (!out.empty() && out.back() != ' ') out.push_back(' ');
      } else {
        out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
      }
    }
  };
  for (const Slot& s : slots) {
    append(text.substr(pos, s.begin - pos));
    out.push_back('\x01');
    out.push_back(static_cast<char>('a' + static_cast<int>(s.kind)));
    pos = s.end;
  }
  append(text.substr(pos));
  while (!out.empty() &&
         (out.back() == ' ' || out.back() == '?' || out.back() == '.' || out.back() == '!')) {
    out.pop_back();
  }
  if (!out.empty() && out.front() == ' ') out.erase(0, 1);
  return out;
}

bool SameSlots(const std::vector<Slot>& a, const std::vector<Slot>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Slot& x, const Slot& y) {
    return x.kind == y.kind && x.value == y.value;
  });
}

std::string FirstWordLower(const std::vector<Span>& spans, size_t n) {
  size_t seen = 0;
  for (const Span& s : spans) {
    if (s.kind == SpanKind::kSymbol) continue;
    if (seen++ == n) return s.kind == SpanKind::kWord ? s.value : std::string();
  }
  return {};
}

// Old value -> new raw text.
using Substitution = std::vector<std::pair<std::string, std::string>>;

bool Fail(std::string* why_not, std::string reason) {
  if (why_not != nullptr) *why_not = std::move(reason);
  return false;
}

bool PlanFill(const AnswerTemplate& tmpl, std::string_view cached_question,
              std::string_view new_question, const TemplateOptions& options, Substitution* plan,
              std::string* why_not) {
  std::vector<Slot> cached = ExtractSlots(cached_question);
  if (!SameSlots(cached, tmpl.question_slots)) {
    return Fail(why_not, "the template was made from another question");
  }
  std::vector<Slot> fresh = ExtractSlots(new_question);
  if (fresh.size() != cached.size() ||
      !std::equal(cached.begin(), cached.end(), fresh.begin(),
                  [](const Slot& x, const Slot& y) { return x.kind == y.kind; })) {
    return Fail(why_not, "the questions' slots differ in number or kind");
  }
  if (Skeleton(cached_question, cached) != Skeleton(new_question, fresh)) {
    return Fail(why_not, "the questions differ outside their slots");
  }
  std::vector<size_t> differing;
  for (size_t i = 0; i < cached.size(); ++i) {
    if (cached[i].value != fresh[i].value) differing.push_back(i);
  }
  plan->clear();
  if (differing.empty()) return true;
  if (tmpl.yes_no) return Fail(why_not, "a yes/no answer depends on the values asked about");
  if (!tmpl.own_values.empty()) {
    return Fail(why_not, "the answer has values of its own (\"" + tmpl.own_values.front() +
                             "\") that may depend on the question's");
  }
  for (size_t i : differing) {
    if (cached[i].kind == SlotKind::kQuoted && !tmpl.own_quotes.empty()) {
      return Fail(why_not, "the answer quotes \"" + tmpl.own_quotes.front() +
                               "\", which may depend on the changed quoted string");
    }
  }
  for (size_t i : differing) {
    const Slot& slot = cached[i];
    const bool fillable = slot.kind == SlotKind::kId || slot.kind == SlotKind::kEmail ||
                          slot.kind == SlotKind::kUrl || options.fill_values;
    if (!fillable) {
      return Fail(why_not, "differing " + std::string(SlotKindName(slot.kind)) + " slot \"" +
                               slot.value + "\" is a value, not an identifier (fill_values off)");
    }
    if (!tmpl.in_answer[i]) {
      return Fail(why_not, "differing slot \"" + slot.value + "\" does not occur in the answer");
    }
    const std::string replacement(
        new_question.substr(fresh[i].begin, fresh[i].end - fresh[i].begin));
    auto it = std::find_if(plan->begin(), plan->end(),
                           [&](const auto& p) { return p.first == slot.value; });
    if (it == plan->end()) {
      plan->emplace_back(slot.value, replacement);
    } else if (it->second != replacement) {
      return Fail(why_not, "slot value \"" + slot.value + "\" changes in two different ways");
    }
  }
  for (size_t i = 0; i < cached.size(); ++i) {
    if (cached[i].value != fresh[i].value) continue;
    for (const auto& [old_value, unused] : *plan) {
      if (cached[i].value == old_value) {
        return Fail(why_not, "slot value \"" + old_value + "\" both changes and stays");
      }
    }
  }
  return true;
}

std::string Apply(const Substitution& plan, std::string_view text) {
  std::vector<Slot> slots = ExtractSlots(text);
  std::string out;
  size_t pos = 0;
  for (const Slot& s : slots) {
    auto it =
        std::find_if(plan.begin(), plan.end(), [&](const auto& p) { return p.first == s.value; });
    if (it == plan.end()) continue;
    out.append(text.substr(pos, s.begin - pos));
    out.append(it->second);
    pos = s.end;
  }
  out.append(text.substr(pos));
  return out;
}

bool IsBookkeepingMember(std::string_view name) {
  return InList(name, {"id", "object", "model", "role", "type", "system_fingerprint",
                       "finish_reason", "stop_reason", "stop_sequence", "status", "service_tier",
                       "name", "call_id", "tool_call_id", "tool_use_id", "logprobs", "usage"});
}

// Calls fn(std::string&) on every answer string of `v`.
template <typename Value, typename Fn>
void ForEachAnswerString(Value& v, const Fn& fn) {
  if (v.is_string()) {
    fn(v.as_string());
  } else if (v.is_array()) {
    for (auto& e : v.as_array()) ForEachAnswerString(e, fn);
  } else if (v.is_object()) {
    for (auto& [name, child] : v.as_object()) {
      if (!IsBookkeepingMember(name)) ForEachAnswerString(child, fn);
    }
  }
}

}  // namespace

std::string_view SlotKindName(SlotKind kind) {
  switch (kind) {
    case SlotKind::kNumber:
      return "number";
    case SlotKind::kDate:
      return "date";
    case SlotKind::kId:
      return "id";
    case SlotKind::kEmail:
      return "email";
    case SlotKind::kUrl:
      return "url";
    case SlotKind::kQuoted:
      return "quoted";
  }
  return "?";
}

std::vector<Slot> ExtractSlots(std::string_view text) {
  std::vector<Span> spans = ScanSpans(text);
  std::vector<Slot> slots;
  SlotsFromSpans(spans, &slots);
  return slots;
}

AnswerTemplate MakeTemplate(std::string_view question, std::string_view answer_text) {
  AnswerTemplate t;
  t.answer = std::string(answer_text);
  const std::vector<Span> q_spans = ScanSpans(question);
  SlotsFromSpans(q_spans, &t.question_slots);
  const std::vector<Span> a_spans = ScanSpans(answer_text);
  std::vector<Slot> a_slots;
  SlotsFromSpans(a_spans, &a_slots);

  auto in_question = [&](std::string_view value) {
    return std::any_of(t.question_slots.begin(), t.question_slots.end(),
                       [&](const Slot& s) { return s.value == value; });
  };
  t.in_answer.resize(t.question_slots.size());
  for (size_t i = 0; i < t.question_slots.size(); ++i) {
    t.in_answer[i] = std::any_of(a_slots.begin(), a_slots.end(), [&](const Slot& s) {
      return s.value == t.question_slots[i].value;
    });
  }
  std::vector<Slot> inner;
  for (const Slot& s : a_slots) {
    if (in_question(s.value)) continue;
    if (s.kind != SlotKind::kQuoted) {
      t.own_values.push_back(s.value);
      continue;
    }
    t.own_quotes.push_back(s.value);
    inner = ExtractSlots(s.value);
    for (const Slot& v : inner) {
      if (!in_question(v.value)) t.own_values.push_back(v.value);
    }
  }
  for (const Span& s : a_spans) {
    if (s.kind == SpanKind::kWord && !NumberWordValue(s.value).empty()) {
      t.own_values.push_back(s.value);
    }
  }

  const std::string answer_first = FirstWordLower(a_spans, 0);
  const std::string question_first = FirstWordLower(q_spans, 0);
  const std::string question_second = FirstWordLower(q_spans, 1);
  t.yes_no = InList(answer_first,
                    {"yes", "no", "yeah", "nope", "true", "false", "correct", "incorrect"}) ||
             (InList(question_first, {"is",  "are",  "am",    "was",  "were",  "do",     "does",
                                      "did", "can",  "could", "will", "would", "should", "shall",
                                      "has", "have", "had",   "may",  "might", "must"}) &&
              question_second != "you" && question_second != "u");
  return t;
}

std::optional<std::string> FillTemplate(const AnswerTemplate& tmpl,
                                        std::string_view cached_question,
                                        std::string_view new_question,
                                        const TemplateOptions& options, std::string* why_not) {
  Substitution plan;
  if (!PlanFill(tmpl, cached_question, new_question, options, &plan, why_not)) {
    return std::nullopt;
  }
  if (plan.empty()) return tmpl.answer;
  return Apply(plan, tmpl.answer);
}

std::string AnswerTextOfJson(const json::Value& body) {
  std::string out;
  bool first = true;
  ForEachAnswerString(body, [&](const std::string& s) {
    if (!first) out.push_back('\n');
    first = false;
    out.append(s);
  });
  return out;
}

bool FillTemplateJson(const AnswerTemplate& tmpl, std::string_view cached_question,
                      std::string_view new_question, json::Value* body,
                      const TemplateOptions& options, std::string* why_not) {
  Substitution plan;
  if (!PlanFill(tmpl, cached_question, new_question, options, &plan, why_not)) return false;
  if (plan.empty()) return true;
  ForEachAnswerString(*body, [&](std::string& s) { s = Apply(plan, s); });
  return true;
}

}  // namespace deja::semantic
