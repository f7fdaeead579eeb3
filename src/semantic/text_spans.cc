#include "semantic/text_spans.h"

#include <string>

#include "semantic/text.h"
#include "semantic/text_chars.h"
#include "semantic/text_matchers.h"
#include "semantic/word_lists.h"

namespace deja::semantic {
namespace {

using namespace text_internal;  // NOLINT

class Lexer {
 public:
  Lexer(std::string_view text, std::vector<Span>* out)
      : t_(text), out_(out), has_at_(text.find('@') != std::string_view::npos) {}

  void Run() {
    const size_t n = t_.size();
    size_t i = 0;
    while (i < n) {
      const unsigned char c = static_cast<unsigned char>(t_[i]);
      if (c < 0x80) {
        if (c == '\n') {
          sentence_start_ = true;
          ++i;
          continue;
        }
        if (IsAsciiSpace(c)) {
          ++i;
          continue;
        }
        if ((c == '"' || c == '\'' || c == '`') && TryQuote(&i, c, 1)) continue;
        if (IsAsciiAlnum(c)) {
          i = LexWordStart(i);
          continue;
        }
        if ((c == '-' || c == '+') && i + 1 < n && IsDigit(t_[i + 1]) && SignAllowed(i)) {
          i = LexNumber(i);
          continue;
        }
        i = LexSymbol(i, 1);
        continue;
      }
      size_t len = 0;
      const char32_t cp = CpAt(t_, i, &len);
      if (IsWhitespace(cp)) {
        if (cp == 0x2028 || cp == 0x2029) sentence_start_ = true;
        i += len;
        continue;
      }
      if (ClosingQuote(cp) != 0 && TryQuote(&i, cp, len)) continue;
      if (IsLetterCp(cp)) {
        i = LexWordStart(i);
        continue;
      }
      i = LexSymbol(i, len);
    }
  }

 private:
  void Emit(SpanKind kind, size_t begin, size_t end, std::string value, bool ordinal = false) {
    Span s;
    s.kind = kind;
    s.begin = static_cast<uint32_t>(begin);
    s.end = static_cast<uint32_t>(end);
    s.ordinal = ordinal;
    s.value = std::move(value);
    if (kind != SpanKind::kSymbol) {
      s.sentence_start = sentence_start_;
      sentence_start_ = false;
    }
    out_->push_back(std::move(s));
  }

  size_t LexSymbol(size_t i, size_t len) {
    const char c = t_[i];
    const size_t next = i + len;
    if (c == '.' || c == '!' || c == '?' || c == ':') {
      size_t nl = 0;
      const char32_t after = CpAt(t_, next, &nl);
      const bool ends = after == 0 || IsSpaceCp(after) || IsQuoteCp(after) || after == ')';
      const bool abbreviation = c == '.' && !out_->empty() &&
                                out_->back().kind == SpanKind::kWord && out_->back().end == i &&
                                IsAbbreviation(out_->back().value);
      if (ends && !abbreviation) sentence_start_ = true;
    }
    Emit(SpanKind::kSymbol, i, next, std::string(t_.substr(i, len)));
    return next;
  }

  // A '-' or '+' (followed by a digit) is a sign, not an operator, unless a number or a closing
  // bracket precedes it ("5 -3", "(2)-1") or a word touches it ("x-1").
  bool SignAllowed(size_t i) const {
    size_t j = i;
    while (j > 0 && IsAsciiSpace(t_[j - 1])) --j;
    if (j == 0) return true;
    const char32_t prev = CpBefore(t_, j);
    if (prev < 0x80 && IsDigit(static_cast<unsigned char>(prev))) return false;
    if (prev == ')' || prev == ']' || prev == '%') return false;
    return !IsWordCp(prev) || j < i;  // "of -5" is a sign, "x-5" an operator
  }

  bool TryQuote(size_t* pos, char32_t open, size_t open_len) {
    const size_t i = *pos;
    const char32_t close = ClosingQuote(open);
    if (close == 0) return false;
    // Opening position: start of text, after a space, an opening bracket or separator, or
    // another kind of quote (the second mark of an empty "" opens nothing).
    if (i > 0) {
      const char32_t prev = CpBefore(t_, i);
      const bool ok =
          IsSpaceCp(prev) || (IsQuoteCp(prev) && prev != open) ||
          (prev < 0x80 && std::string_view("([{<:=,;/-").find(static_cast<char>(prev)) !=
                              std::string_view::npos) ||
          prev == 0x2014 || prev == 0x2013;
      if (!ok) return false;
    }
    const bool apostrophe_like = close == '\'' || close == 0x2019;
    size_t first_len = 0;
    const char32_t first = CpAt(t_, i + open_len, &first_len);
    if (first == 0 || first == '\n' || (apostrophe_like && IsSpaceCp(first))) return false;
    const size_t limit = std::min(t_.size(), i + open_len + 400);
    size_t j = i + open_len;
    while (j < limit) {
      size_t len = 0;
      const char32_t cp = CpAt(t_, j, &len);
      if (cp == '\n') return false;
      if (cp == close) {
        bool closes = true;
        if (apostrophe_like) {
          size_t al = 0;
          const char32_t after = CpAt(t_, j + len, &al);
          closes = !IsSpaceCp(CpBefore(t_, j)) && !IsWordCp(after);
        }
        if (closes) {
          size_t b = i + open_len;
          size_t e = j;
          while (b < e && IsAsciiSpace(t_[b])) ++b;
          while (e > b && IsAsciiSpace(t_[e - 1])) --e;
          if (b == e) return false;
          Emit(SpanKind::kQuoted, b, e, std::string(t_.substr(b, e - b)));
          *pos = j + len;
          return true;
        }
      }
      j += len;
    }
    return false;
  }

  // At an ASCII alphanumeric or a letter: URL, e-mail, UUID, number or word run.
  size_t LexWordStart(size_t i) {
    const char32_t prev = CpBefore(t_, i);
    const bool fresh = !(IsWordCp(prev) || prev == '.' || prev == '_' || prev == '@');
    size_t end = 0;
    if (fresh) {
      const char first = static_cast<char>(t_[i] | 0x20);
      if ((first == 'h' || first == 'f' || first == 'w') && (end = MatchUrl(t_, i)) != 0) {
        Emit(SpanKind::kUrl, i, end, std::string(t_.substr(i, end - i)));
        return end;
      }
      if (has_at_ && (end = MatchEmail(t_, i)) != 0) {
        Emit(SpanKind::kEmail, i, end, AsciiLower(t_.substr(i, end - i)));
        return end;
      }
      if ((end = MatchUuid(t_, i)) != 0) {
        Emit(SpanKind::kUuid, i, end, AsciiLower(t_.substr(i, end - i)));
        return end;
      }
    }
    if (IsDigit(t_[i])) return LexNumber(i);
    return LexRun(i);
  }

  // Digits starting at `i`: their end.
  size_t Digits(size_t i) const {
    while (i < t_.size() && IsDigit(t_[i])) ++i;
    return i;
  }

  bool WordEndsAt(size_t i) const {
    size_t len = 0;
    const char32_t cp = CpAt(t_, i, &len);
    return !IsWordCp(cp) && cp != '_';
  }

  // "am"/"pm"/"a.m."/"p.m." (after at most one space) starting at `i`: its end and whether it is
  // pm; 0 when absent.
  size_t Meridiem(size_t i, bool* pm) const {
    if (i < t_.size() && t_[i] == ' ') ++i;
    if (i + 2 > t_.size()) return 0;
    const char a = static_cast<char>(t_[i] | 0x20);
    if (a != 'a' && a != 'p') return 0;
    *pm = a == 'p';
    size_t j = i + 1;
    if (j < t_.size() && t_[j] == '.') ++j;
    if (j >= t_.size() || (t_[j] | 0x20) != 'm') return 0;
    ++j;
    if (j < t_.size() && t_[j] == '.' && t_[j - 2] == '.') ++j;
    return WordEndsAt(j) ? j : 0;
  }

  // "2024-03-04", "2024/3/4", "2024.03.04".
  size_t TryIsoDate(size_t i) {
    if (Digits(i) != i + 4 || i + 4 >= t_.size()) return 0;
    const char sep = t_[i + 4];
    if (sep != '-' && sep != '/' && sep != '.') return 0;
    const size_t m_end = Digits(i + 5);
    if (m_end == i + 5 || m_end > i + 7 || m_end >= t_.size() || t_[m_end] != sep) return 0;
    const size_t d_end = Digits(m_end + 1);
    if (d_end == m_end + 1 || d_end > m_end + 3) return 0;
    const bool time_follows = d_end + 1 < t_.size() && t_[d_end] == 'T' && IsDigit(t_[d_end + 1]);
    if (!time_follows && !WordEndsAt(d_end)) return 0;
    const int month = ParseInt(t_.substr(i + 5, m_end - i - 5));
    const int day = ParseInt(t_.substr(m_end + 1, d_end - m_end - 1));
    if (month < 1 || month > 12 || day < 1 || day > 31) return 0;
    Emit(SpanKind::kDate, i, d_end,
         std::string(t_.substr(i, 4)) + "-" + TwoDigits(month) + "-" + TwoDigits(day));
    if (time_follows) {
      const size_t end = TryTime(d_end + 1);
      if (end != 0) return end;
    }
    return d_end;
  }

  // "3/4/2024", "03-04-24", "3.4.2024": all-digit dates with an ambiguous day/month order.
  size_t TryNumericDate(size_t i) {
    const size_t a_end = Digits(i);
    if (a_end - i > 2 || a_end >= t_.size()) return 0;
    const char sep = t_[a_end];
    if (sep != '/' && sep != '-' && sep != '.') return 0;
    const size_t b_end = Digits(a_end + 1);
    if (b_end == a_end + 1 || b_end - a_end - 1 > 2 || b_end >= t_.size() || t_[b_end] != sep) {
      return 0;
    }
    const size_t y_end = Digits(b_end + 1);
    const size_t y_len = y_end - b_end - 1;
    if (!(y_len == 4 || (y_len == 2 && sep != '.')) || !WordEndsAt(y_end)) return 0;
    const int a = ParseInt(t_.substr(i, a_end - i));
    const int b = ParseInt(t_.substr(a_end + 1, b_end - a_end - 1));
    if (a < 1 || b < 1 || a > 31 || b > 31 || (a > 12 && b > 12)) return 0;
    Emit(SpanKind::kDate, i, y_end,
         "n" + std::to_string(a) + "/" + std::to_string(b) + "/" +
             std::string(t_.substr(b_end + 1, y_len)));
    return y_end;
  }

  // "14:30", "2:30:05", "2:30 pm".
  size_t TryTime(size_t i) {
    const size_t h_end = Digits(i);
    if (h_end == i || h_end - i > 2 || h_end + 3 > t_.size() || t_[h_end] != ':') return 0;
    if (Digits(h_end + 1) != h_end + 3) return 0;
    size_t end = h_end + 3;
    int seconds = -1;
    if (end + 3 <= t_.size() && t_[end] == ':' && Digits(end + 1) == end + 3) {
      seconds = ParseInt(t_.substr(end + 1, 2));
      end += 3;
    }
    if (end < t_.size() && IsDigit(t_[end])) return 0;
    int hour = ParseInt(t_.substr(i, h_end - i));
    const int minute = ParseInt(t_.substr(h_end + 1, 2));
    if (hour > 24 || minute > 59 || seconds > 59) return 0;
    bool pm = false;
    if (const size_t m_end = Meridiem(end, &pm); m_end != 0 && hour >= 1 && hour <= 12) {
      hour = hour % 12 + (pm ? 12 : 0);
      end = m_end;
    } else if (!WordEndsAt(end)) {
      return 0;
    }
    std::string value = "t" + TwoDigits(hour) + ":" + TwoDigits(minute);
    if (seconds >= 0) value += ":" + TwoDigits(seconds);
    Emit(SpanKind::kDate, i, end, std::move(value));
    return end;
  }

  // A number at `i` (a digit, or a sign followed by a digit).
  size_t LexNumber(size_t i) {
    const bool signed_number = t_[i] == '-' || t_[i] == '+';
    if (!signed_number) {
      size_t end = 0;
      if ((end = TryIsoDate(i)) != 0) return end;
      if ((end = TryNumericDate(i)) != 0) return end;
      if ((end = TryTime(i)) != 0) return end;
    }
    const size_t d0 = signed_number ? i + 1 : i;
    size_t p = Digits(d0);
    std::string value;
    if (t_[i] == '-') value.push_back('-');
    value.append(t_.substr(d0, p - d0));
    bool plain = !signed_number;  // an unsigned integer without grouping or fraction
    // Thousands grouping: "1,000,000".
    if (p - d0 <= 3) {
      while (p + 4 <= t_.size() && t_[p] == ',' && Digits(p + 1) == p + 4) {
        value.append(t_.substr(p + 1, 3));
        p += 4;
        plain = false;
      }
    }
    if (p + 1 < t_.size() && t_[p] == '.' && IsDigit(t_[p + 1])) {
      const size_t f_end = Digits(p + 1);
      const std::string_view fraction = t_.substr(p + 1, f_end - p - 1);
      if (!(fraction.size() <= 2 && fraction.find_first_not_of('0') == std::string_view::npos)) {
        value.push_back('.');
        value.append(fraction);
      }
      p = f_end;
      plain = false;
    }
    if (plain) {
      // Ordinal: "3rd", "21st".
      if (p + 2 <= t_.size() && WordEndsAt(p + 2)) {
        const std::string suffix = AsciiLower(t_.substr(p, 2));
        if (suffix == "st" || suffix == "nd" || suffix == "rd" || suffix == "th") {
          Emit(SpanKind::kNumber, i, p + 2, std::move(value), /*ordinal=*/true);
          return p + 2;
        }
      }
      // "3pm", "11 a.m.".
      bool pm = false;
      const int hour = p - d0 <= 2 ? ParseInt(t_.substr(d0, p - d0)) : 0;
      if (hour >= 1 && hour <= 12) {
        if (const size_t m_end = Meridiem(p, &pm); m_end != 0) {
          Emit(SpanKind::kDate, i, m_end, "t" + TwoDigits(hour % 12 + (pm ? 12 : 0)) + ":00");
          return m_end;
        }
      }
      // Letters glued on: a unit ("5kg") is a number then a word; anything else ("5G", "4x4",
      // "4-year-old", "12_b") is one identifier.
      if (p < t_.size() && IsAlpha(t_[p])) {
        size_t q = p;
        while (q < t_.size() && IsAlpha(t_[q])) ++q;
        if (WordEndsAt(q) && !(q < t_.size() && (t_[q] == '-' || t_[q] == '\'')) &&
            !CanonicalUnit(AsciiLower(t_.substr(p, q - p))).empty()) {
          Emit(SpanKind::kNumber, i, p, std::move(value));
          return p;
        }
        return LexRun(i);
      }
      if (p + 1 < t_.size() &&
          ((t_[p] == '-' && IsAlpha(t_[p + 1])) || (t_[p] == '_' && IsAsciiAlnum(t_[p + 1])))) {
        return LexRun(i);
      }
    }
    if (value == "-0") value = "0";
    Emit(SpanKind::kNumber, i, p, std::move(value));
    return p;
  }

  // Letters, digits, and apostrophes / hyphens / underscores joining them.
  size_t LexRun(size_t i) {
    size_t j = i;
    bool has_letter = false;
    bool has_digit = false;
    bool has_underscore = false;
    char32_t prev = 0;
    while (j < t_.size()) {
      // Fast path: a run of ASCII letters and digits.
      while (j < t_.size() && IsAsciiAlnum(t_[j])) {
        const unsigned char c = static_cast<unsigned char>(t_[j++]);
        (IsDigit(c) ? has_digit : has_letter) = true;
        prev = c;
      }
      if (j >= t_.size()) break;
      size_t len = 0;
      const char32_t cp = CpAt(t_, j, &len);
      if (IsWordCp(cp) || (prev != 0 && IsCombiningMark(cp))) {
        if (cp < 0x80 && IsDigit(cp)) {
          has_digit = true;
        } else {
          has_letter = true;
        }
        prev = cp;
        j += len;
        continue;
      }
      size_t next_len = 0;
      const char32_t next = CpAt(t_, j + len, &next_len);
      const bool prev_word = prev != 0 && IsWordCp(prev);
      if ((cp == '\'' || cp == 0x2019) && prev_word && IsLetterCp(prev) && IsLetterCp(next)) {
        prev = cp;
        j += len;
        continue;
      }
      if (cp == '-' && prev_word && IsWordCp(next) &&
          !(!has_letter && next < 0x80 && IsDigit(next))) {
        prev = cp;
        j += len;
        continue;
      }
      if (cp == '_' && (prev_word || prev == '_') && (IsWordCp(next) || next == '_')) {
        has_underscore = true;
        prev = cp;
        j += len;
        continue;
      }
      break;
    }
    const std::string_view raw = t_.substr(i, j - i);
    if ((has_letter && has_digit) || has_underscore || (has_digit && !has_letter)) {
      Emit(SpanKind::kAlnum, i, j, std::string(raw));
    } else {
      std::string lower = AsciiLower(raw);
      const SpanKind kind = IsDayWord(lower) ? SpanKind::kDayWord : SpanKind::kWord;
      Emit(kind, i, j, std::move(lower));
    }
    return j;
  }

  std::string_view t_;
  std::vector<Span>* out_;
  bool has_at_;
  bool sentence_start_ = true;
};

}  // namespace

std::string_view SpanKindName(SpanKind kind) {
  switch (kind) {
    case SpanKind::kWord:
      return "word";
    case SpanKind::kNumber:
      return "number";
    case SpanKind::kDate:
      return "date";
    case SpanKind::kDayWord:
      return "day";
    case SpanKind::kQuoted:
      return "quoted";
    case SpanKind::kEmail:
      return "email";
    case SpanKind::kUrl:
      return "url";
    case SpanKind::kUuid:
      return "uuid";
    case SpanKind::kAlnum:
      return "alnum";
    case SpanKind::kSymbol:
      return "symbol";
  }
  return "?";
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

void ScanSpans(std::string_view text, std::vector<Span>* out) {
  out->clear();
  out->reserve(text.size() / 4 + 4);
  if (text.size() > UINT32_MAX) text = text.substr(0, UINT32_MAX);
  Lexer(text, out).Run();
  CombineDates(text, out);
}

std::vector<Span> ScanSpans(std::string_view text) {
  std::vector<Span> out;
  ScanSpans(text, &out);
  return out;
}

}  // namespace deja::semantic
