#include "semantic/guards.h"

#include <algorithm>

#include "semantic/text.h"
#include "semantic/text_spans.h"
#include "semantic/word_lists.h"

namespace deja::semantic {
namespace {

bool IsNegation(std::string_view lower) {
  static constexpr std::string_view kWords[] = {
      "not",    "no",      "never",  "none",    "nobody",   "nothing", "nowhere", "neither",
      "nor",    "without", "cannot", "dont",    "doesnt",   "didnt",   "isnt",    "arent",
      "wasnt",  "werent",  "cant",   "couldnt", "shouldnt", "wouldnt", "wont",    "hasnt",
      "havent", "hadnt",   "mustnt", "neednt",  "aint"};
  for (std::string_view w : kWords) {
    if (lower.size() == w.size() && lower[0] == w[0] && lower == w) return true;
  }
  return (lower.size() > 3 && lower.substr(lower.size() - 3) == "n't") ||
         (lower.size() > 5 && lower.substr(lower.size() - 5) == "n\xE2\x80\x99t");
}

// Operators that join numbers into an expression.
bool IsOperator(std::string_view s) {
  static constexpr std::string_view kOps[] = {"+",
                                              "-",
                                              "*",
                                              "/",
                                              "^",
                                              "=",
                                              "<",
                                              ">",
                                              "\xC3\x97",
                                              "\xC3\xB7",
                                              "\xE2\x89\xA4",
                                              "\xE2\x89\xA5",
                                              "\xE2\x88\x92"};
  for (std::string_view op : kOps) {
    if (s == op) return true;
  }
  return false;
}

std::string_view CurrencyUnit(std::string_view symbol) {
  if (symbol == "$") return "usd";
  if (symbol == "\xE2\x82\xAC") return "eur";  // €
  if (symbol == "\xC2\xA3") return "gbp";      // £
  if (symbol == "\xC2\xA5") return "jpy";      // ¥
  return {};
}

// Only spaces (possibly none) between spans a and b.
bool Adjoining(std::string_view t, const Span& a, const Span& b) {
  for (size_t k = a.end; k < b.begin; ++k) {
    if (t[k] != ' ' && t[k] != '\t') return false;
  }
  return b.begin >= a.end;
}

// Whether a word counts as a name: capitalized away from a sentence start, or with a capital
// after its first letter ("NASA", "iPhone"). "I" and its contractions are not names.
bool IsName(std::string_view raw, bool sentence_start) {
  // Fast path: all-ASCII words without capitals (most words) are never names.
  if (std::none_of(raw.begin(), raw.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
      })) {
    return false;
  }
  if (raw == "I" || raw.substr(0, 2) == "I'" || raw.substr(0, 4) == "I\xE2\x80\x99") return false;
  bool first_upper = false;
  bool inner_upper = false;
  size_t letters = 0;
  for (size_t i = 0; i < raw.size();) {
    const char32_t cp = DecodeUtf8(raw, &i);
    if (ToLowerSimple(cp) != cp) (letters == 0 ? first_upper : inner_upper) = true;
    if (cp != '\'' && cp != 0x2019 && cp != '-') ++letters;
  }
  return (first_upper && !sentence_start) || (inner_upper && letters >= 2);
}

// The word lower-cased: `ascii_lower` (the span's value) for ASCII words, else the simple Unicode
// mapping.
std::string FoldWord(std::string_view raw, const std::string& ascii_lower) {
  if (std::none_of(raw.begin(), raw.end(),
                   [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    return ascii_lower;
  }
  std::string out;
  for (size_t i = 0; i < raw.size();) AppendUtf8(ToLowerSimple(DecodeUtf8(raw, &i)), &out);
  return out;
}

// Drops a trailing "'s"; returns whether there was one (a possessive ends a name).
bool StripPossessive(std::string* s) {
  if (s->size() > 2 && s->compare(s->size() - 2, 2, "'s") == 0) {
    s->resize(s->size() - 2);
    return true;
  }
  if (s->size() > 4 && s->compare(s->size() - 4, 4, "\xE2\x80\x99s") == 0) {
    s->resize(s->size() - 4);
    return true;
  }
  return false;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ", ";
    out += v[i];
  }
  return out + "]";
}

void SortUnique(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

}  // namespace

GuardFeatures ExtractGuardFeatures(std::string_view text) {
  GuardFeatures f;
  thread_local std::vector<Span> spans;
  ScanSpans(text, &spans);
  std::string entity;  // the run of name words being built
  const Span* last_entity = nullptr;
  auto flush_entity = [&] {
    if (!entity.empty()) f.entities.push_back(std::move(entity));
    entity.clear();
    last_entity = nullptr;
  };
  for (size_t k = 0; k < spans.size(); ++k) {
    const Span& s = spans[k];
    const std::string_view raw = s.Raw(text);
    std::string number;  // the value of a number or number word
    switch (s.kind) {
      case SpanKind::kNumber:
        number = s.value;
        break;
      case SpanKind::kWord: {
        // `words`: a "| " wherever anything but spaces separates this word from the last one.
        const bool spaced =
            k > 0 && spans[k - 1].kind == SpanKind::kWord && Adjoining(text, spans[k - 1], s);
        if (!spaced && f.words.size() > 1) f.words += "| ";
        std::string folded = FoldWord(raw, s.value);
        const bool possessive = StripPossessive(&folded);
        f.words += folded;
        f.words += ' ';
        if (IsName(raw, s.sentence_start)) {
          if (last_entity != nullptr && Adjoining(text, *last_entity, s) &&
              s.begin - last_entity->end == 1) {
            entity += " ";
            entity += folded;
          } else {
            flush_entity();
            entity = std::move(folded);
          }
          last_entity = &s;
          if (possessive) flush_entity();
          continue;
        }
        if (IsNegation(s.value)) ++f.negations;
        number = std::string(NumberWordValue(s.value));
        break;
      }
      case SpanKind::kDate:
      case SpanKind::kDayWord:
        f.dates.push_back(s.value);
        break;
      case SpanKind::kQuoted:
        f.quoted.push_back(s.value);
        break;
      case SpanKind::kEmail:
      case SpanKind::kUrl:
      case SpanKind::kUuid:
      case SpanKind::kAlnum:
        f.identifiers.push_back(AsciiLower(raw));
        break;
      case SpanKind::kSymbol:
        break;
    }
    flush_entity();
    if (number.empty()) continue;
    f.numbers.push_back(number);
    // Quantity: a unit word or '%' after the number, or a currency sign before it.
    if (k + 1 < spans.size() && Adjoining(text, s, spans[k + 1])) {
      const Span& next = spans[k + 1];
      if (next.kind == SpanKind::kWord) {
        std::string_view unit = CanonicalUnit(AsciiLower(next.Raw(text)));
        if (!unit.empty()) f.quantities.push_back(number + " " + std::string(unit));
      } else if (next.kind == SpanKind::kSymbol && next.value == "%" && next.begin == s.end) {
        f.quantities.push_back(number + " %");
      }
    }
    if (k > 0 && spans[k - 1].kind == SpanKind::kSymbol && spans[k - 1].end == s.begin) {
      std::string_view unit = CurrencyUnit(spans[k - 1].value);
      if (!unit.empty()) f.quantities.push_back(number + " " + std::string(unit));
    }
    // Expression: number (operator number)+, starting here when no operator precedes.
    const bool continues =
        k >= 2 && spans[k - 1].kind == SpanKind::kSymbol && IsOperator(spans[k - 1].value) &&
        spans[k - 2].kind == SpanKind::kNumber && Adjoining(text, spans[k - 2], spans[k - 1]) &&
        Adjoining(text, spans[k - 1], s);
    if (!continues && s.kind == SpanKind::kNumber) {
      std::string expr = s.value;
      size_t j = k;
      while (j + 2 < spans.size() && spans[j + 1].kind == SpanKind::kSymbol &&
             IsOperator(spans[j + 1].value) && spans[j + 2].kind == SpanKind::kNumber &&
             Adjoining(text, spans[j], spans[j + 1]) &&
             Adjoining(text, spans[j + 1], spans[j + 2])) {
        expr += spans[j + 1].value;
        expr += spans[j + 2].value;
        j += 2;
      }
      if (j > k) f.expressions.push_back(std::move(expr));
    }
  }
  flush_entity();
  std::sort(f.numbers.begin(), f.numbers.end());
  std::sort(f.expressions.begin(), f.expressions.end());
  std::sort(f.quantities.begin(), f.quantities.end());
  std::sort(f.dates.begin(), f.dates.end());
  std::sort(f.quoted.begin(), f.quoted.end());
  SortUnique(&f.entities);
  SortUnique(&f.identifiers);
  return f;
}

GuardResult CompareGuardFeatures(const GuardFeatures& a, const GuardFeatures& b) {
  GuardResult r;
  auto check = [&](const char* what, const std::vector<std::string>& x,
                   const std::vector<std::string>& y) {
    if (!r.ok || x == y) return;
    r.ok = false;
    r.reason = std::string(what) + " differ: " + Join(x) + " vs " + Join(y);
  };
  check("numbers", a.numbers, b.numbers);
  check("expressions", a.expressions, b.expressions);
  check("quantities", a.quantities, b.quantities);
  check("dates", a.dates, b.dates);
  check("quoted strings", a.quoted, b.quoted);
  if (r.ok) {
    auto named_in = [](const std::string& entity, const GuardFeatures& g) {
      return g.words.find(" " + entity + " ") != std::string::npos;
    };
    const bool agree = std::all_of(a.entities.begin(), a.entities.end(),
                                   [&](const std::string& e) { return named_in(e, b); }) &&
                       std::all_of(b.entities.begin(), b.entities.end(),
                                   [&](const std::string& e) { return named_in(e, a); });
    if (!agree) {
      r.ok = false;
      r.reason = "entities differ: " + Join(a.entities) + " vs " + Join(b.entities);
    }
  }
  check("identifiers", a.identifiers, b.identifiers);
  if (r.ok && a.negations != b.negations) {
    r.ok = false;
    r.reason =
        "negations differ: " + std::to_string(a.negations) + " vs " + std::to_string(b.negations);
  }
  return r;
}

GuardResult GuardCheck(std::string_view query_a, std::string_view query_b) {
  return CompareGuardFeatures(ExtractGuardFeatures(query_a), ExtractGuardFeatures(query_b));
}

}  // namespace deja::semantic
