#include "semantic/bert_text.h"

#include <utf8proc.h>

#include <cstdlib>

#include "semantic/text.h"

namespace deja::semantic {
namespace {

bool IsAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Re-encodes `s` with every invalid byte replaced by U+FFFD, so utf8proc accepts it.
std::string Sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) AppendUtf8(DecodeUtf8(s, &i), &out);
  return out;
}

bool IsCombiningCategory(utf8proc_category_t c) {
  return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

}  // namespace

bool IsBertPunctuation(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
           (cp >= 123 && cp <= 126);
  }
  const utf8proc_category_t c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool IsBertControl(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  if (cp >= 0x20 && cp < 0x7F) return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
      return true;
    default:
      return false;
  }
}

std::string UnicodeNormalize(std::string_view text, UnicodeForm form) {
  if (IsAscii(text)) return std::string(text);  // ASCII is invariant under every form.
  int options = UTF8PROC_STABLE;
  switch (form) {
    case UnicodeForm::kNfc:
      options |= UTF8PROC_COMPOSE;
      break;
    case UnicodeForm::kNfd:
      options |= UTF8PROC_DECOMPOSE;
      break;
    case UnicodeForm::kNfkc:
      options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
      break;
    case UnicodeForm::kNfkd:
      options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
      break;
  }
  const std::string clean = Sanitize(text);
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(clean.data()),
                                          static_cast<utf8proc_ssize_t>(clean.size()), &out,
                                          static_cast<utf8proc_option_t>(options));
  if (n < 0) return clean;  // Only on allocation failure: leave the text as it is.
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

std::string LowercaseFull(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  if (IsAscii(text)) {
    for (char c : text) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    return out;
  }
  for (size_t i = 0; i < text.size();) {
    const char32_t cp = DecodeUtf8(text, &i);
    if (cp == 0x130) {  // The one unconditional multi-character lower-case mapping.
      out += "i\xCC\x87";
      continue;
    }
    AppendUtf8(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))), &out);
  }
  return out;
}

std::string RemoveCombiningMarks(std::string_view text) {
  if (IsAscii(text)) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t at = i;
    const char32_t cp = DecodeUtf8(text, &i);
    if (!IsCombiningCategory(utf8proc_category(static_cast<utf8proc_int32_t>(cp)))) {
      out.append(text.substr(at, i - at));
    }
  }
  return out;
}

std::string BertNormalize(std::string_view text, const BertNormalizerOptions& o) {
  std::string s;
  s.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    char32_t cp = DecodeUtf8(text, &i);
    if (o.clean_text) {
      if (cp == 0 || cp == 0xFFFD || IsBertControl(cp)) continue;
      if (IsWhitespace(cp)) cp = ' ';
    }
    if (o.handle_chinese_chars && IsCjk(cp)) {
      s.push_back(' ');
      AppendUtf8(cp, &s);
      s.push_back(' ');
    } else {
      AppendUtf8(cp, &s);
    }
  }
  if (o.strip_accents && !IsAscii(s)) {
    const std::string nfd = UnicodeNormalize(s, UnicodeForm::kNfd);
    s.clear();
    for (size_t i = 0; i < nfd.size();) {
      const size_t at = i;
      const char32_t cp = DecodeUtf8(nfd, &i);
      if (utf8proc_category(static_cast<utf8proc_int32_t>(cp)) != UTF8PROC_CATEGORY_MN) {
        s.append(nfd, at, i - at);
      }
    }
  }
  if (o.lowercase) s = LowercaseFull(s);
  return s;
}

}  // namespace deja::semantic
