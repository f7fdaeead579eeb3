#include "semantic/text_matchers.h"

#include <string>
#include <utility>

#include "semantic/text_chars.h"
#include "semantic/word_lists.h"

namespace deja::semantic::text_internal {
namespace {

// True when only spaces separate spans a and b (at least `min_spaces` of them).
bool SpacedApart(std::string_view t, const Span& a, const Span& b, size_t min_spaces) {
  if (b.begin < a.end || b.begin - a.end < min_spaces) return false;
  for (size_t k = a.end; k < b.begin; ++k) {
    if (!IsAsciiSpace(t[k]) || t[k] == '\n') return false;
  }
  return true;
}

bool IsDayNumber(const Span& s) {
  if (s.kind != SpanKind::kNumber || s.value.size() > 2 || s.value.empty() ||
      s.value.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  const int d = ParseInt(s.value);
  return d >= 1 && d <= 31;
}

bool IsYearNumber(const Span& s) {
  return s.kind == SpanKind::kNumber && !s.ordinal && s.value.size() == 4 &&
         s.value.find_first_not_of("0123456789") == std::string::npos &&
         (s.value[0] == '1' || s.value[0] == '2');
}

bool IsSymbol(const Span& s, char c) {
  return s.kind == SpanKind::kSymbol && s.value.size() == 1 && s.value[0] == c;
}

}  // namespace

size_t MatchUrl(std::string_view t, size_t i) {
  static constexpr std::string_view kPrefixes[] = {"https://", "http://", "ftp://", "www."};
  for (std::string_view p : kPrefixes) {
    if (i + p.size() >= t.size()) continue;
    bool match = true;
    for (size_t k = 0; k < p.size() && match; ++k) {
      match = static_cast<char>(t[i + k] | (IsAlpha(t[i + k]) ? 0x20 : 0)) == p[k];
    }
    if (!match) continue;
    size_t j = i + p.size();
    int parens = 0;
    int brackets = 0;
    while (j < t.size()) {
      size_t len = 0;
      const char32_t cp = CpAt(t, j, &len);
      if (IsSpaceCp(cp) || cp == '<' || cp == '>' || cp == '"' || cp == '`' ||
          (cp >= 0x2018 && cp <= 0x201F)) {
        break;
      }
      parens += cp == '(' ? 1 : cp == ')' ? -1 : 0;
      brackets += cp == '[' ? 1 : cp == ']' ? -1 : 0;
      j += len;
    }
    // Trailing sentence punctuation and unbalanced closing brackets are not part of the URL.
    while (j > i + p.size()) {
      const char last = t[j - 1];
      if (std::string_view(".,;:!?'").find(last) != std::string_view::npos) {
        --j;
      } else if (last == ')' && parens < 0) {
        ++parens;
        --j;
      } else if (last == ']' && brackets < 0) {
        ++brackets;
        --j;
      } else {
        break;
      }
    }
    if (j == i + p.size()) return 0;
    return j;
  }
  return 0;
}

size_t MatchEmail(std::string_view t, size_t i) {
  size_t j = i;
  while (j < t.size() &&
         (IsAsciiAlnum(t[j]) || std::string_view("._%+-").find(t[j]) != std::string_view::npos)) {
    ++j;
  }
  if (j == i || j >= t.size() || t[j] != '@') return 0;
  size_t k = j + 1;
  size_t label_start = k;
  size_t last_dot = 0;
  int dots = 0;
  while (k < t.size()) {
    const char c = t[k];
    if (IsAsciiAlnum(c) || c == '-') {
      ++k;
    } else if (c == '.' && k > label_start && k + 1 < t.size() && IsAsciiAlnum(t[k + 1])) {
      last_dot = k;
      ++dots;
      label_start = ++k;
    } else {
      break;
    }
  }
  if (dots == 0 || k - last_dot < 3) return 0;  // needs a top-level domain of 2+ letters
  for (size_t m = last_dot + 1; m < k; ++m) {
    if (!IsAlpha(t[m])) return 0;
  }
  return k;
}

size_t MatchUuid(std::string_view t, size_t i) {
  if (i + 36 > t.size()) return 0;
  for (size_t k = 0; k < 36; ++k) {
    const char c = t[i + k];
    const bool dash = k == 8 || k == 13 || k == 18 || k == 23;
    if (dash ? c != '-' : !IsHex(c)) return 0;
  }
  if (i + 36 < t.size() && IsAsciiAlnum(t[i + 36])) return 0;
  return i + 36;
}

void CombineDates(std::string_view t, std::vector<Span>* spans) {
  std::vector<Span>& v = *spans;
  size_t w = 0;
  for (size_t k = 0; k < v.size();) {
    int month = 0;
    int day = 0;
    std::string year;
    size_t last = k;
    auto month_at = [&](size_t m) {
      return m < v.size() && v[m].kind == SpanKind::kWord ? MonthOf(v[m].Raw(t), v[m].value) : 0;
    };
    // After a month word at `m`: the index past an abbreviation's '.'.
    auto after_month = [&](size_t m) {
      return m + 1 < v.size() && IsSymbol(v[m + 1], '.') && v[m + 1].begin == v[m].end ? m + 1 : m;
    };
    // A year after span `p`, optionally after a comma.
    auto year_after = [&](size_t p, size_t* at) {
      size_t q = p + 1;
      if (q < v.size() && IsSymbol(v[q], ',') && v[q].begin == v[p].end) ++q;
      if (q < v.size() && IsYearNumber(v[q]) && SpacedApart(t, v[q - 1], v[q], 1)) {
        *at = q;
        return true;
      }
      return false;
    };
    if ((month = month_at(k)) != 0) {
      const size_t m_end = after_month(k);
      size_t y = 0;
      if (m_end + 1 < v.size() && IsDayNumber(v[m_end + 1]) &&
          SpacedApart(t, v[m_end], v[m_end + 1], 1)) {
        day = ParseInt(v[m_end + 1].value);
        last = m_end + 1;
        if (year_after(last, &y)) {
          year = v[y].value;
          last = y;
        }
      } else if (year_after(m_end, &y)) {
        year = v[y].value;
        last = y;
      } else {
        month = 0;
      }
    } else if (IsDayNumber(v[k]) && k + 1 < v.size()) {
      size_t m = k + 1;
      if (v[m].kind == SpanKind::kWord && v[m].value == "of" && m + 1 < v.size() &&
          SpacedApart(t, v[k], v[m], 1)) {
        ++m;
      }
      if ((month = month_at(m)) != 0 && SpacedApart(t, v[m - 1], v[m], 1)) {
        day = ParseInt(v[k].value);
        last = after_month(m);
        size_t y = 0;
        if (year_after(last, &y)) {
          year = v[y].value;
          last = y;
        }
      } else {
        month = 0;
      }
    }
    if (month == 0) {
      if (w != k) v[w] = std::move(v[k]);
      ++w;
      ++k;
      continue;
    }
    Span date;
    date.kind = SpanKind::kDate;
    date.begin = v[k].begin;
    date.end = v[last].end;
    date.sentence_start = v[k].sentence_start;
    date.value = (year.empty() ? std::string("xxxx") : year) + "-" + TwoDigits(month);
    if (day != 0) date.value += "-" + TwoDigits(day);
    v[w++] = std::move(date);
    k = last + 1;
  }
  v.resize(w);
}

}  // namespace deja::semantic::text_internal
