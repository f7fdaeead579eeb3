// Answer templates: serve a cached answer for a question that differs from the cached one only in
// slot values, with the new values filled in.
//
//   cached question  "What is the status of order 12345?"
//   cached answer    "Order 12345 has shipped."
//   new question     "what is the status of order 67890"
//   filled answer    "Order 67890 has shipped."
//
// Slots are the values a question can vary in: numbers, dates and times, ids (UUIDs, letter-digit
// codes with 3+ digits such as "ORD-12345", and numbers after an id word: "order 12345",
// "#12345", "ticket no. 7"), e-mail addresses, URLs and quoted strings (text_spans.h finds them).
//
// A fill happens only when all of these hold (otherwise the result is a miss):
//   1. The questions are equal once each slot is replaced by its kind (case, runs of spaces and
//      trailing ?.! aside), and their slots have the same kinds in the same order.
//   2. Every slot whose value differs occurs in the answer (by value: "1,000" matches "1000").
//   3. The answer has no value of its own: every slot of the answer (and every number word) is a
//      copy of a question slot. "What is 5+5?" -> "5+5 = 10" is therefore never a template: the
//      10 was computed from the question, and copying 5+6 into it would be wrong. A quoted string
//      in the answer counts only through the values inside it (so `Click "Track"` or a JSON key
//      does not block a fill) unless a quoted slot of the question changes.
//   4. It is not a yes/no exchange: the answer does not open with yes/no/true/false/correct, and
//      the question does not open with an auxiliary verb ("Is 17 prime?" -> "Yes, 17 is prime").
//   5. Each differing slot is of a fillable kind: ids, e-mails and URLs always; numbers, dates
//      and quoted strings only with TemplateOptions::fill_values, because an answer about a value
//      ("2024-03-04 is a Monday", "'carpe diem' means seize the day") usually depends on it in ways
//      rules 2-4 cannot see.
//   6. No value is ambiguous: a value that changes must not also occur in a slot that stays, and
//      two slots with the same old value must get the same new one.
// Known limit: even an id-keyed answer can be wrong for another id ("Order 12345 has shipped"
// says nothing about order 67890's status). Enable templates only for routes whose answers echo
// ids without depending on them (docs/semantic.md).
//
// The gateway keeps the cached question and answer and calls MakeTemplate then FillTemplate at
// lookup time (a few microseconds), so templates need no storage format.
//
// Thread safety: pure functions; AnswerTemplate is a plain value.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace deja::semantic {

enum class SlotKind : uint8_t { kNumber, kDate, kId, kEmail, kUrl, kQuoted };

std::string_view SlotKindName(SlotKind kind);

struct Slot {
  SlotKind kind = SlotKind::kNumber;
  size_t begin = 0;  // byte range in the text (the content between quote marks for kQuoted)
  size_t end = 0;
  std::string value;  // comparable value (text_spans.h Span::value)
};

// The slots of `text`, in order.
std::vector<Slot> ExtractSlots(std::string_view text);

struct AnswerTemplate {
  std::vector<Slot> question_slots;  // slots of the question the template was made from
  std::vector<bool> in_answer;       // per question slot: its value occurs as a slot of the answer
  std::string answer;                // the answer text
  bool yes_no = false;               // rule 4 (above) holds
  // Values in the answer that come from no question slot (rule 3), e.g. "10"; empty when none.
  // Includes values found inside a quoted string of the answer ("eta": "2024-03-01").
  std::vector<std::string> own_values;
  // Quoted strings of the answer that are no question slot and hold no value ('bonjour',
  // "Save"): they block a fill only when a quoted slot of the question changes.
  std::vector<std::string> own_quotes;
};

// Records which question slots the answer repeats, and whether the answer has values of its own.
AnswerTemplate MakeTemplate(std::string_view question, std::string_view answer_text);

struct TemplateOptions {
  // Also fill numbers (not id-like), dates and quoted strings (rule 5). Off by default.
  bool fill_values = false;
};

// The cached answer with each differing slot's old value replaced by the new one, or nullopt when
// a rule above fails; `why_not` (optional) then says which. When no slot differs (and the
// questions are equal as in rule 1) the answer is returned unchanged. `cached_question` must be the
// question `tmpl` was made from (nullopt otherwise).
std::optional<std::string> FillTemplate(const AnswerTemplate& tmpl,
                                        std::string_view cached_question,
                                        std::string_view new_question,
                                        const TemplateOptions& options = {},
                                        std::string* why_not = nullptr);

// --- JSON answers (an OpenAI or Anthropic response body) ---

// The text of a response body a template is made from: every string value FillTemplateJson may
// rewrite, joined with "\n". Strings under bookkeeping members are left out, whole subtrees
// included: id, object, model, role, type, system_fingerprint, finish_reason, stop_reason,
// stop_sequence, status, service_tier, name, call_id, tool_call_id, tool_use_id, logprobs, usage.
// Tool-call `arguments` (a JSON-encoded string) are included: a quoted "12345" inside is a slot.
std::string AnswerTextOfJson(const json::Value& body);

// FillTemplate for a response body, in place: the same rules, decided on `tmpl` (which must be
// MakeTemplate(cached_question, AnswerTextOfJson(original body))), then every string value that
// AnswerTextOfJson reads is rewritten. Returns false and leaves `body` untouched when the fill is
// refused. Token counts in `usage` keep describing the cached answer.
bool FillTemplateJson(const AnswerTemplate& tmpl, std::string_view cached_question,
                      std::string_view new_question, json::Value* body,
                      const TemplateOptions& options = {}, std::string* why_not = nullptr);

}  // namespace deja::semantic
