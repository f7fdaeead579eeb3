// The canonical (RFC 8785) and compact writers.
//
// Both share one escaping routine and one number formatter, so a Write of a canonical document is
// byte-identical to its WriteCanonical. The output is sized once, from a walk of the document that
// bounds everything but escapes (see Output), and then written through a raw cursor that lives in
// a register: strings are scanned and copied in the same 16-byte steps, and objects are sorted
// through an array of member pointers, never by copying members.
#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/json.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace deja::json {
namespace {

// Longest output of FormatEs6: a sign, "0.", five zeros and 17 digits.
constexpr size_t kMaxNumberLength = 25;

// Appends to a std::string through raw cursors. The string is resized once to its final size plus
// the document's SizeHint, an upper bound on everything written except the extra bytes of escapes,
// so writers store bytes without any capacity checks and only an escape asks for room (Extra).
// Cursors are plain `char*` values that the writers pass along and return.
class Output {
 public:
  Output(std::string* out, size_t hint)
      : out_(out), start_(out->size()), spare_(hint / 16 + 16) {  // Room for a few escapes.
    out->resize(start_ + hint + spare_);
  }
  // Trims to what was written; without Finish (an exception), drops the partial output.
  ~Output() { out_->resize(finished_ != nullptr ? finished_ - out_->data() : start_); }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  char* begin() { return out_->data() + start_; }
  void Finish(char* w) { finished_ = w; }

  // Makes room for `extra` bytes beyond the hint; returns w, moved if the buffer moved.
  char* Extra(char* w, size_t extra) {
    if (spare_ < extra) [[unlikely]] {
      return Grow(w, extra);
    }
    spare_ -= extra;
    return w;
  }

 private:
  [[gnu::noinline]] char* Grow(char* w, size_t extra) {
    const size_t used = static_cast<size_t>(w - out_->data());
    const size_t grow = std::max(extra, out_->size() / 2);
    out_->resize(out_->size() + grow);
    spare_ += grow - extra;
    return out_->data() + used;
  }

  std::string* out_;
  size_t start_;
  size_t spare_;  // Allocated bytes not promised to the hint or to earlier escapes.
  char* finished_ = nullptr;
};

// An upper bound on the bytes written for v, escapes aside.
size_t SizeHint(const Value& v) {
  switch (v.type()) {
    case Type::kNull:
    case Type::kBool:
      return 5;
    case Type::kNumber:
      return kMaxNumberLength;
    case Type::kString:
      return v.as_string().size() + 2;
    case Type::kArray: {
      size_t n = 2;
      for (const Value& e : v.as_array()) n += SizeHint(e) + 1;
      return n;
    }
    case Type::kObject: {
      size_t n = 2;
      for (const Member& m : v.as_object()) n += m.first.size() + 4 + SizeHint(m.second);
      return n;
    }
  }
  return 0;
}

bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// Whether any of the 8 bytes in x must be escaped (the classic SWAR has-zero / has-less tests,
// exact as yes/no answers).
bool AnyNeedsEscape(uint64_t x) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t quote = x ^ (kOnes * '"');
  const uint64_t backslash = x ^ (kOnes * '\\');
  const uint64_t control = (x - kOnes * 0x20) & ~x;
  return (((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) | control) & kHigh;
}

template <typename T>
T Load(const char* p) {
  T x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
template <typename T>
void Store(char* w, T x) {
  std::memcpy(w, &x, sizeof x);
}

#if defined(__SSE2__)
// One bit per byte of v that must be escaped.
unsigned EscapeMask(__m128i v) {
  // Unsigned v <= 0x1F, spelled with the unsigned min SSE2 has (non-ASCII bytes pass through).
  const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
  const __m128i special = _mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
      control);
  return static_cast<unsigned>(_mm_movemask_epi8(special));
}
#endif

// Copies n < 16 bytes with at most four loads and stores.
void CopySmall(char* w, const char* p, size_t n) {
  if (n >= 8) {
    const uint64_t a = Load<uint64_t>(p), b = Load<uint64_t>(p + n - 8);
    Store(w, a);
    Store(w + n - 8, b);
  } else if (n >= 4) {
    const uint32_t a = Load<uint32_t>(p), b = Load<uint32_t>(p + n - 4);
    Store(w, a);
    Store(w + n - 4, b);
  } else {
    for (size_t i = 0; i < n; ++i) w[i] = p[i];
  }
}

// Copies the bytes of [p, end) that need no escape, up to the first that does, to w. Sets *stop to
// that byte (or end) and returns w advanced past the copy. [begin, end) is the whole string. Whole
// 16-byte chunks are stored even when an escape cuts them short: the output has room for the rest
// of the string, and the bytes past the cut land where the escape and the rest will overwrite them.
char* CopyUnescaped(const char* begin, const char* p, const char* end, char* w, const char** stop) {
#if defined(__SSE2__)
  if (end - begin >= 16) {
    while (end - p >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(w), v);
      const unsigned mask = EscapeMask(v);
      if (mask != 0) {
        const int i = std::countr_zero(mask);
        *stop = p + i;
        return w + i;
      }
      p += 16;
      w += 16;
    }
    if (p == end) {
      *stop = end;
      return w;
    }
    // Fewer than 16 bytes left: test the string's last 16 (ignoring those already done), then
    // copy exactly what is clean.
    const size_t done = 16 - static_cast<size_t>(end - p);
    const unsigned mask =
        EscapeMask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(end - 16))) >> done;
    const size_t n =
        mask != 0 ? static_cast<size_t>(std::countr_zero(mask)) : static_cast<size_t>(end - p);
    CopySmall(w, p, n);
    *stop = p + n;
    return w + n;
  }
#endif
  // Short strings, most member names: one or two overlapping words cover every byte.
  const size_t n = static_cast<size_t>(end - p);
  if (n >= 8) {
    const uint64_t a = Load<uint64_t>(p), b = Load<uint64_t>(end - 8);
    if (!AnyNeedsEscape(a) && !AnyNeedsEscape(b)) {
      Store(w, a);
      Store(w + n - 8, b);
      *stop = end;
      return w + n;
    }
  } else if (n >= 4) {
    const uint32_t a = Load<uint32_t>(p), b = Load<uint32_t>(end - 4);
    if (!AnyNeedsEscape(a | uint64_t{b} << 32)) {
      Store(w, a);
      Store(w + n - 4, b);
      *stop = end;
      return w + n;
    }
  }
  while (p < end && !NeedsEscape(static_cast<unsigned char>(*p))) *w++ = *p++;
  *stop = p;
  return w;
}

// The letter of the two-character escape of each byte that has one (RFC 8785 uses them all), else
// 0: the other control characters are written \u00xx.
constexpr auto kShortEscape = [] {
  std::array<char, 256> t{};
  t['"'] = '"';
  t['\\'] = '\\';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  return t;
}();

char* PutQuoted(std::string_view s, char* w, Output& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* p = s.data();
  const char* end = p + s.size();
  *w++ = '"';
  for (;;) {
    const char* q;
    w = CopyUnescaped(s.data(), p, end, w, &q);
    if (q == end) break;
    const unsigned char c = static_cast<unsigned char>(*q);
    const char e = kShortEscape[c];
    if (e != 0) {
      w = out.Extra(w, 1);
      w[0] = '\\';
      w[1] = e;
      w += 2;
    } else {
      w = out.Extra(w, 5);
      const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      std::memcpy(w, u, 6);
      w += 6;
    }
    p = q + 1;
  }
  *w++ = '"';
  return w;
}

// ECMA-262 Number::toString(x) for finite x, following the spec's case analysis. With k the number
// of shortest round-trip digits and n the decimal exponent such that the value is
// 0.DIGITS x 10^n, the layout is: DIGITS000 (k <= n <= 21), DIG.ITS (0 < n <= 21),
// 0.000DIGITS (-6 < n <= 0), else D.IGITSe+/-X. Writes at most kMaxNumberLength bytes at w;
// returns the end.
char* FormatEs6(double d, char* w) {
  if (d == 0) {  // Both zeros print as "0".
    *w++ = '0';
    return w;
  }
  if (!std::isfinite(d)) [[unlikely]] {
    // Only a hand-built Value can hold these. JSON has no NaN or Infinity, so write what
    // JSON.stringify writes rather than invalid JSON.
    std::memcpy(w, "null", 4);
    return w + 4;
  }
  if (d < 0) {
    *w++ = '-';
    d = -d;
  }
  if (d < 9007199254740992.0 && d == std::floor(d)) {
    // Integers below 2^53 are exact, and their shortest form is their decimal expansion.
    return std::to_chars(w, w + 20, static_cast<uint64_t>(d)).ptr;
  }
  char sci[32];  // Shortest round-trip digits as "D.DDDDe+XX" (or "De+XX").
  const char* sci_end = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific).ptr;
  char digits[20];
  int k = 0;
  const char* p = sci;
  for (; *p != 'e'; ++p) {
    if (*p != '.') digits[k++] = *p;
  }
  ++p;  // 'e'
  const bool negative_exponent = *p == '-';
  ++p;  // Sign.
  int exponent = 0;
  for (; p < sci_end; ++p) exponent = exponent * 10 + (*p - '0');
  if (negative_exponent) exponent = -exponent;
  const int n = exponent + 1;

  if (k <= n && n <= 21) {
    std::memcpy(w, digits, k);
    w += k;
    std::memset(w, '0', n - k);
    return w + (n - k);
  }
  if (0 < n && n <= 21) {
    std::memcpy(w, digits, n);
    w += n;
    *w++ = '.';
    std::memcpy(w, digits + n, k - n);
    return w + (k - n);
  }
  if (-6 < n && n <= 0) {
    *w++ = '0';
    *w++ = '.';
    std::memset(w, '0', -n);
    w += -n;
    std::memcpy(w, digits, k);
    return w + k;
  }
  *w++ = digits[0];
  if (k > 1) {
    *w++ = '.';
    std::memcpy(w, digits + 1, k - 1);
    w += k - 1;
  }
  *w++ = 'e';
  *w++ = n - 1 < 0 ? '-' : '+';
  return std::to_chars(w, w + 3, n - 1 < 0 ? 1 - n : n - 1).ptr;
}

// UTF-16 code-unit order differs from UTF-8 byte order in one place: code points U+E000..U+FFFF
// (lead bytes EE, EF) sort after supplementary code points (lead bytes F0..F4), whose UTF-16 form
// starts with a surrogate D800..DBFF. Any other first difference (ASCII, continuation bytes, or
// lead bytes of one class) orders the same either way. This bijection on bytes moves EE and EF
// above F0..FF, so comparing mapped bytes at the first difference gives UTF-16 order for valid
// UTF-8 and still a total order for anything else.
unsigned Utf16Weight(unsigned char c) {
  if (c < 0xEE) return c;
  return c < 0xF0 ? c + 0x10 : c - 2;
}

bool Utf16Less(const Member* a, const Member* b) {
  const std::string& x = a->first;
  const std::string& y = b->first;
  const size_t n = std::min(x.size(), y.size());
  const auto [xi, yi] = std::mismatch(x.data(), x.data() + n, y.data());
  if (xi != x.data() + n) {
    // The fast path for ASCII names is Utf16Weight's first test.
    return Utf16Weight(static_cast<unsigned char>(*xi)) <
           Utf16Weight(static_cast<unsigned char>(*yi));
  }
  if (x.size() != y.size()) return x.size() < y.size();
  return a < b;  // A hand-built object may repeat a name; keep such members in input order.
}

// Roughly the output size (exact but for escapes and numbers), so the output is sized once.

template <bool kCanonical>
char* PutValue(const Value& v, char* w, Output& out);

template <bool kCanonical>
char* PutMember(const Member& m, char* w, Output& out) {
  w = PutQuoted(m.first, w, out);
  *w++ = ':';
  w = PutValue<kCanonical>(m.second, w, out);
  *w++ = ',';
  return w;
}

template <bool kCanonical>
char* PutObject(const Object& object, char* w, Output& out) {
  *w++ = '{';
  if (object.empty()) {
    *w++ = '}';
    return w;
  }
  if constexpr (kCanonical) {
    // Request objects are small; sort pointers in a stack buffer and only allocate for big ones.
    constexpr size_t kInline = 16;
    const Member* inline_order[kInline];
    std::vector<const Member*> heap_order;
    const Member** order = inline_order;
    if (object.size() > kInline) {
      heap_order.resize(object.size());
      order = heap_order.data();
    }
    for (size_t i = 0; i < object.size(); ++i) order[i] = &object[i];
    std::sort(order, order + object.size(), Utf16Less);
    for (size_t i = 0; i < object.size(); ++i) w = PutMember<kCanonical>(*order[i], w, out);
  } else {
    for (const Member& m : object) w = PutMember<kCanonical>(m, w, out);
  }
  w[-1] = '}';  // Over the last comma.
  return w;
}

template <bool kCanonical>
char* PutValue(const Value& v, char* w, Output& out) {
  switch (v.type()) {
    case Type::kNull:
      std::memcpy(w, "null", 4);
      return w + 4;
    case Type::kBool:
      if (v.as_bool()) {
        std::memcpy(w, "true", 4);
        return w + 4;
      }
      std::memcpy(w, "false", 5);
      return w + 5;
    case Type::kNumber:
      return FormatEs6(v.as_number(), w);
    case Type::kString:
      return PutQuoted(v.as_string(), w, out);
    case Type::kArray: {
      const Array& array = v.as_array();
      *w++ = '[';
      if (array.empty()) {
        *w++ = ']';
        return w;
      }
      for (const Value& e : array) {
        w = PutValue<kCanonical>(e, w, out);
        *w++ = ',';
      }
      w[-1] = ']';  // Over the last comma.
      return w;
    }
    case Type::kObject:
      return PutObject<kCanonical>(v.as_object(), w, out);
  }
  return w;
}

template <bool kCanonical>
void Append(const Value& v, std::string* out) {
  Output output(out, SizeHint(v));
  output.Finish(PutValue<kCanonical>(v, output.begin(), output));
}

}  // namespace

void AppendQuoted(std::string_view s, std::string* out) {
  Output output(out, s.size() + 2);
  output.Finish(PutQuoted(s, output.begin(), output));
}

void AppendEs6Number(double d, std::string* out) {
  char buf[kMaxNumberLength];
  out->append(buf, FormatEs6(d, buf));
}

void AppendCanonical(const Value& v, std::string* out) { Append<true>(v, out); }

std::string WriteCanonical(const Value& v) {
  std::string out;
  Append<true>(v, &out);
  return out;
}

void AppendWrite(const Value& v, std::string* out) { Append<false>(v, out); }

std::string Write(const Value& v) {
  std::string out;
  Append<false>(v, &out);
  return out;
}

void AppendPretty(const Value& v, int depth, std::string* out) {
  const std::string pad(2 * (depth + 1), ' '), end_pad(2 * depth, ' ');
  if (v.is_array() && !v.as_array().empty()) {
    out->append("[\n");
    const Array& a = v.as_array();
    for (size_t i = 0; i < a.size(); ++i) {
      out->append(pad);
      AppendPretty(a[i], depth + 1, out);
      out->append(i + 1 < a.size() ? ",\n" : "\n");
    }
    out->append(end_pad + "]");
  } else if (v.is_object() && !v.as_object().empty()) {
    out->append("{\n");
    const Object& o = v.as_object();
    for (size_t i = 0; i < o.size(); ++i) {
      out->append(pad);
      AppendQuoted(o[i].first, out);
      out->append(": ");
      AppendPretty(o[i].second, depth + 1, out);
      out->append(i + 1 < o.size() ? ",\n" : "\n");
    }
    out->append(end_pad + "}");
  } else {
    AppendWrite(v, out);
  }
}

}  // namespace deja::json
