#include "semantic/quality_filter.h"

#include <algorithm>
#include <initializer_list>
#include <span>

#include "semantic/answer_template.h"

namespace deja::semantic {
namespace {

bool IsAlnum(char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
         static_cast<unsigned char>(c) >= 0x80;
}

// ASCII lower-case with typographic apostrophes and quotes folded to ASCII, at most `limit` bytes.
std::string Fold(std::string_view s, size_t limit = std::string_view::npos) {
  s = s.substr(0, limit);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\xE2' && i + 2 < s.size() && s[i + 1] == '\x80') {
      const char third = s[i + 2];
      if (third == '\x98' || third == '\x99') {  // ‘ ’
        out.push_back('\'');
        i += 2;
        continue;
      }
      if (third == '\x9C' || third == '\x9D') {  // “ ”
        out.push_back('"');
        i += 2;
        continue;
      }
    }
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  }
  return out;
}

// The first of `phrases` occurring in `text` on word boundaries; "" when none.
std::string_view FindPhrase(std::string_view text, std::span<const std::string_view> phrases) {
  for (std::string_view p : phrases) {
    for (size_t pos = text.find(p); pos != std::string_view::npos; pos = text.find(p, pos + 1)) {
      const size_t end = pos + p.size();
      const bool starts = !IsAlnum(p.front()) || pos == 0 || !IsAlnum(text[pos - 1]);
      const bool ends = !IsAlnum(p.back()) || end == text.size() || !IsAlnum(text[end]);
      if (starts && ends) return p;
    }
  }
  return {};
}

std::string_view FindPhrase(std::string_view text,
                            std::initializer_list<std::string_view> phrases) {
  return FindPhrase(text, std::span<const std::string_view>(phrases.begin(), phrases.size()));
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  return s;
}

QualityVerdict Reject(QualityReason reason, std::string detail) {
  QualityVerdict v;
  v.admit = false;
  v.reason = reason;
  v.detail = std::string(QualityReasonName(reason)) + ": " + std::move(detail);
  return v;
}

std::string Quoted(std::string_view phrase) {
  // Appended piecewise: GCC 12 at -O3 reports a false -Wrestrict for "\"" + std::string(...).
  std::string out;
  out.reserve(phrase.size() + 2);
  out.push_back('"');
  out.append(phrase);
  out.push_back('"');
  return out;
}

// "my order" / "your account" style phrases: things only the asker's session knows.
constexpr std::string_view kPersonalQuestion[] = {
    "my account",       "my order",     "my orders",      "my subscription",  "my cart",
    "my balance",       "my booking",   "my reservation", "my bill",          "my invoice",
    "my payment",       "my refund",    "my delivery",    "my package",       "my appointment",
    "my ticket",        "your account", "your order",     "your orders",      "your subscription",
    "your cart",        "your balance", "your booking",   "your reservation", "your bill",
    "your invoice",     "your payment", "your refund",    "your delivery",    "your package",
    "your appointment", "your ticket"};
constexpr std::string_view kPersonalAnswer[] = {
    "your account",  "your order",   "your orders",      "your subscription",
    "your cart",     "your balance", "your booking",     "your reservation",
    "your bill",     "your invoice", "your payment",     "your refund",
    "your delivery", "your package", "your appointment", "your ticket"};
// References to the conversation itself.
constexpr std::string_view kConversation[] = {"as i said",
                                              "as i mentioned",
                                              "as mentioned above",
                                              "as mentioned earlier",
                                              "as we discussed",
                                              "as discussed earlier",
                                              "previous conversation",
                                              "earlier in this conversation",
                                              "earlier in our conversation",
                                              "our last conversation",
                                              "you said",
                                              "you mentioned",
                                              "you told me",
                                              "i told you",
                                              "my previous answer",
                                              "my previous response",
                                              "your previous answer",
                                              "your last answer",
                                              "the code above",
                                              "the above code",
                                              "remember when"};

bool HasIdentifier(std::string_view question) {
  for (const Slot& s : ExtractSlots(question)) {
    if (s.kind == SlotKind::kId || s.kind == SlotKind::kEmail || s.kind == SlotKind::kUrl) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view QualityReasonName(QualityReason reason) {
  switch (reason) {
    case QualityReason::kOk:
      return "ok";
    case QualityReason::kEmpty:
      return "empty";
    case QualityReason::kRefusal:
      return "refusal";
    case QualityReason::kError:
      return "error";
    case QualityReason::kTimeSensitive:
      return "time-sensitive";
    case QualityReason::kSessionBound:
      return "session-bound";
  }
  return "?";
}

QualityVerdict AssessForSemanticIndex(std::string_view question, std::string_view answer_text) {
  const std::string answer_head = Fold(TrimLeft(answer_text), 400);
  if (answer_head.empty()) return Reject(QualityReason::kEmpty, "the answer is empty");

  const std::string_view error_head = std::string_view(answer_head).substr(0, 200);
  for (std::string_view prefix : {"error:", "error code", "exception:", "{\"error\""}) {
    if (StartsWith(error_head, prefix)) {
      return Reject(QualityReason::kError, "answer starts with " + Quoted(prefix));
    }
  }
  if (std::string_view p = FindPhrase(
          error_head, {"traceback (most recent call last)", "internal server error",
                       "rate limit exceeded", "too many requests", "service unavailable",
                       "bad gateway", "gateway timeout", "an error occurred",
                       "something went wrong", "request timed out", "maximum context length"});
      !p.empty()) {
    return Reject(QualityReason::kError, "answer says " + Quoted(p));
  }

  if (std::string_view p = FindPhrase(
          answer_head,
          {"i can't help with", "i cannot help with", "i can't assist",     "i cannot assist",
           "i'm sorry, but",    "i am sorry, but",    "sorry, but i can't", "i'm unable to",
           "i am unable to",    "i'm not able to",    "i am not able to",   "i won't be able to",
           "i can't provide",   "i cannot provide",   "i can't comply",     "i cannot comply",
           "i must decline",    "i'm afraid i can't", "as an ai",           "as a language model"});
      !p.empty()) {
    return Reject(QualityReason::kRefusal, "answer says " + Quoted(p));
  }

  const std::string q = Fold(question);
  if (std::string_view p = FindPhrase(
          q,
          {"today",           "tonight",        "tomorrow",        "yesterday",       "now",
           "currently",       "current",        "latest",          "recent",          "recently",
           "this week",       "this weekend",   "this month",      "this year",       "last week",
           "last night",      "next week",      "at the moment",   "breaking",        "news",
           "headlines",       "weather",        "forecast",        "stock price",     "share price",
           "stock market",    "exchange rate",  "price of",        "trending",        "who won",
           "what time is it", "what day is it", "what's the date", "what is the date"});
      !p.empty()) {
    return Reject(QualityReason::kTimeSensitive, "question says " + Quoted(p));
  }
  const std::string a = Fold(answer_text);
  if (std::string_view p = FindPhrase(a, {"today",
                                          "tonight",
                                          "tomorrow",
                                          "yesterday",
                                          "right now",
                                          "as of now",
                                          "currently",
                                          "at the moment",
                                          "at the time of writing",
                                          "as of my last update",
                                          "knowledge cutoff",
                                          "as of today",
                                          "real-time",
                                          "real time",
                                          "this week",
                                          "this month",
                                          "breaking news",
                                          "current price",
                                          "stock price",
                                          "weather"});
      !p.empty()) {
    return Reject(QualityReason::kTimeSensitive, "answer says " + Quoted(p));
  }

  if (std::string_view p = FindPhrase(q, kConversation); !p.empty()) {
    return Reject(QualityReason::kSessionBound, "question says " + Quoted(p));
  }
  if (std::string_view p = FindPhrase(a, kConversation); !p.empty()) {
    return Reject(QualityReason::kSessionBound, "answer says " + Quoted(p));
  }
  std::string_view personal_q = FindPhrase(q, kPersonalQuestion);
  std::string_view personal_a = personal_q.empty() ? FindPhrase(a, kPersonalAnswer) : "";
  if ((!personal_q.empty() || !personal_a.empty()) && !HasIdentifier(question)) {
    return Reject(QualityReason::kSessionBound,
                  (personal_q.empty() ? "answer says " + Quoted(personal_a)
                                      : "question says " + Quoted(personal_q)) +
                      " and the question names no id");
  }
  return QualityVerdict{};
}

AdmissionDecision AdmissionScore(const AdmissionSignals& signals, const AdmissionOptions& options) {
  AdmissionDecision d;
  if (!signals.quality_ok) {
    d.reason = "quality";
    return d;
  }
  const double f = static_cast<double>(signals.frequency);
  const double c = std::max(0.0, signals.cost);
  const double sim = std::clamp(signals.max_similarity, 0.0, 1.0);
  const double freq_term = f / (f + options.frequency_half);
  const double cost_term = c / (c + options.cost_half);
  const double novelty = 1.0 - sim;
  d.score = options.weight_frequency * freq_term + options.weight_cost * cost_term +
            options.weight_novelty * novelty;
  if (sim >= options.near_duplicate_similarity) {
    d.reason = "near-duplicate";
  } else if (d.score < options.min_score) {
    d.reason = "score below threshold";
  } else {
    d.admit = true;
    d.reason = "admitted";
  }
  return d;
}

}  // namespace deja::semantic
