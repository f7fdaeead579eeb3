// Value accessors and the strict parser.
//
// The parser is recursive descent over a cursor held in a register; depth is bounded by
// ParseOptions::max_depth and each level costs two small stack frames. Values are constructed in
// place in their final container (never built and then moved), strings without escapes are copied
// once after a vectorized scan, and numbers go through std::from_chars, which rounds correctly.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "core/json.h"
#include "core/json_internal.h"

namespace deja::json {

const Value* Value::Find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const Member& m : as_object()) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Value* Value::Find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->Find(key));
}

std::string_view Value::GetString(std::string_view key, std::string_view fallback) const {
  const Value* v = Find(key);
  return v != nullptr && v->is_string() ? std::string_view(v->as_string()) : fallback;
}

void Value::Set(std::string key, Value v) {
  Object& obj = as_object();
  for (Member& m : obj) {
    if (m.first == key) {
      m.second = std::move(v);
      return;
    }
  }
  obj.emplace_back(std::move(key), std::move(v));
}

bool Value::Erase(std::string_view key) {
  if (!is_object()) return false;
  Object& obj = as_object();
  // Removes every match: a hand-built object may hold a name twice, and after Erase none should
  // remain.
  auto it = std::remove_if(obj.begin(), obj.end(), [&](const Member& m) { return m.first == key; });
  const bool found = it != obj.end();
  obj.erase(it, obj.end());
  return found;
}

namespace {

using internal::DescribePosition;
using internal::DescribeUtf8Error;
using internal::EncodeUtf8;
using internal::LexNumber;
using internal::NumberToken;
using internal::ReadHex4;
using internal::SkipPlainStringBytes;
using internal::Utf8SequenceLength;

// Objects this small are checked for duplicate names as each member arrives (a linear scan beats
// any index at this size); members past this count are checked once, by sorting, when the object
// closes, so a huge object costs O(n log n) rather than O(n^2).
constexpr size_t kLinearDuplicateCheck = 16;

// Where strings with escapes are unescaped. A raw buffer rather than a std::string, so the decoder
// writes through a plain cursor with one capacity check per escape and no zero-filling.
class DecodeBuffer {
 public:
  char* begin() { return data_.get(); }
  // Makes room for n bytes at w (a cursor into this buffer); returns w, moved if the buffer moved.
  char* Reserve(char* w, size_t n) {
    const size_t used = static_cast<size_t>(w - data_.get());
    if (capacity_ - used >= n) return w;
    const size_t capacity = std::max({used + n, 2 * capacity_, size_t{256}});
    std::unique_ptr<char[]> data(new char[capacity]);
    if (used != 0) std::memcpy(data.get(), data_.get(), used);
    data_ = std::move(data);
    capacity_ = capacity;
    return data_.get() + used;
  }
  void Trim(size_t keep) {
    if (capacity_ > keep) {
      data_.reset();
      capacity_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
};

// Per-thread working memory, kept between parses so that a typical request allocates nothing but
// its result.
struct Scratch {
  // Byte offsets of the names of members 16, 17, ... of the open objects, innermost last (only
  // big objects touch it).
  std::vector<size_t> late_names;
  // Unescaped text of the last member name and of the last string value that had escapes.
  DecodeBuffer name;
  DecodeBuffer value;

  void Clear() {
    late_names.clear();
    // Do not let one huge document pin its memory to the thread.
    constexpr size_t kKeep = 4096;
    if (late_names.capacity() > kKeep) std::vector<size_t>().swap(late_names);
    name.Trim(kKeep);
    value.Trim(kKeep);
  }
};

bool IsAboveSpace(char c) { return static_cast<unsigned char>(c) > ' '; }

// The character each two-character escape stands for, or 0 if the escape is not one of those.
constexpr auto kUnescape = [] {
  std::array<char, 256> t{};
  t['"'] = '"';
  t['\\'] = '\\';
  t['/'] = '/';
  t['b'] = '\b';
  t['f'] = '\f';
  t['n'] = '\n';
  t['r'] = '\r';
  t['t'] = '\t';
  return t;
}();

// Every Parse* function takes a cursor at the first byte of its item and returns the cursor just
// past it, or nullptr after recording the error.
class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& options, Scratch& scratch)
      : text_(text), end_(text.data() + text.size()), options_(options), s_(scratch) {}

  StatusOr<Value> Run();

 private:
  const char* SkipWhitespace(const char* p) const {
    // Compact JSON has no whitespace, so test for the common case first.
    if (p < end_ && IsAboveSpace(*p)) return p;
    while (p < end_ && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
    return p;
  }

  // Parses the value at p (p < end_) and constructs it with emit(args...), which builds a Value
  // from args in its final place and returns it. `depth` counts the enclosing containers.
  template <typename Emit>
  const char* ParseValue(const char* p, size_t depth, const Emit& emit);
  const char* ParseArray(const char* p, size_t depth, Array* array);
  const char* ParseObject(const char* p, size_t depth, Object* object);

  // Sets *out to the string's content: a view of the input when it has no escapes (the common case,
  // then copied once, straight into its final place), else of `*decoded`.
  const char* ParseString(const char* p, DecodeBuffer* decoded, std::string_view* out) {
    // Inline fast path: a string of printable ASCII, found with one vectorized scan.
    const char* begin = p + 1;
    const char* q = SkipPlainStringBytes(begin, end_);
    if (q < end_ && *q == '"') [[likely]] {
      *out = std::string_view(begin, static_cast<size_t>(q - begin));
      return q + 1;
    }
    return ParseStringSlow(p, q, decoded, out);
  }
  // The rest of ParseString for the string opening at `open`, from q, the first byte the fast
  // path could not handle.
  const char* ParseStringSlow(const char* open, const char* q, DecodeBuffer* decoded,
                              std::string_view* out);
  // Decodes the \u escape (or surrogate pair of them) at p to UTF-8 at *w, which has room for 4
  // bytes.
  const char* ParseUnicodeEscape(const char* p, char** w);
  bool CheckLateDuplicates(const Object& object, size_t late_names_first);

  // Records an error naming `problem` and the position of `at`; returns nullptr, for
  // `return Fail(...)`.
  [[gnu::cold, gnu::noinline]] const char* Fail(const char* at, std::string_view problem,
                                                StatusCode code = StatusCode::kInvalidArgument);
  [[gnu::cold, gnu::noinline]] const char* FailUnexpected(const char* at,
                                                          std::string_view expected);
  [[gnu::cold, gnu::noinline]] const char* FailDuplicate(size_t offset, std::string_view name);
  [[gnu::cold, gnu::noinline]] const char* FailTooDeep(const char* at);
  [[gnu::cold, gnu::noinline]] const char* FailNumber(const NumberToken& t);

  std::string_view text_;
  const char* end_;
  const ParseOptions& options_;
  Scratch& s_;
  Status error_;
};

StatusOr<Value> Parser::Run() {
  if (text_.size() > options_.max_size) {
    return ResourceExhaustedError("JSON input is " + std::to_string(text_.size()) +
                                  " bytes, over the size limit of " +
                                  std::to_string(options_.max_size) + " bytes");
  }
  Value root;
  const char* p = SkipWhitespace(text_.data());
  if (p == end_) {
    FailUnexpected(p, "a value");
    return error_;
  }
  p = ParseValue(p, 0, [&root](auto&&... args) {
    root = Value(std::forward<decltype(args)>(args)...);
    return &root;
  });
  if (p == nullptr) return error_;
  p = SkipWhitespace(p);
  if (p != end_) {
    Fail(p, "unexpected data after the JSON value");
    return error_;
  }
  return root;
}

template <typename Emit>
const char* Parser::ParseValue(const char* p, size_t depth, const Emit& emit) {
  switch (*p) {
    case '"': {
      std::string_view s;
      p = ParseString(p, &s_.value, &s);
      if (p != nullptr) emit(s);
      return p;
    }
    case '{':
      if (depth >= options_.max_depth) return FailTooDeep(p);
      return ParseObject(p, depth + 1, &emit(Object())->as_object());
    case '[':
      if (depth >= options_.max_depth) return FailTooDeep(p);
      return ParseArray(p, depth + 1, &emit(Array())->as_array());
    case 't':
      if (end_ - p >= 4 && std::memcmp(p, "true", 4) == 0) {
        emit(true);
        return p + 4;
      }
      break;
    case 'f':
      if (end_ - p >= 5 && std::memcmp(p, "false", 5) == 0) {
        emit(false);
        return p + 5;
      }
      break;
    case 'n':
      if (end_ - p >= 4 && std::memcmp(p, "null", 4) == 0) {
        emit();
        return p + 4;
      }
      break;
    default: {
      const NumberToken t = LexNumber(p, end_);
      if (t.error != NumberToken::Error::kNone) return FailNumber(t);
      emit(t.value);
      return t.end;
    }
  }
  return Fail(p, "invalid literal (expected true, false or null)");
}

// Growing a vector from empty costs an allocation and a move of every element at sizes 1, 2 and 4.
// Containers start at 4 instead, which covers most objects and arrays in API requests (a chat
// message has 2 members), and the top-level one at 16 (a request's parameters).
size_t InitialCapacity(size_t depth) { return depth == 1 ? 16 : 4; }

const char* Parser::ParseArray(const char* p, size_t depth, Array* array) {
  p = SkipWhitespace(p + 1);
  if (p < end_ && *p == ']') return p + 1;
  array->reserve(InitialCapacity(depth));
  const auto emit = [array](auto&&... args) {
    return &array->emplace_back(std::forward<decltype(args)>(args)...);
  };
  for (;;) {
    if (p == end_) return FailUnexpected(p, "a value");
    p = ParseValue(p, depth, emit);
    if (p == nullptr) return nullptr;
    p = SkipWhitespace(p);
    if (p < end_ && *p == ',') {
      p = SkipWhitespace(p + 1);
    } else if (p < end_ && *p == ']') {
      return p + 1;
    } else {
      return FailUnexpected(p, "',' or ']' after an array element");
    }
  }
}

const char* Parser::ParseObject(const char* p, size_t depth, Object* object) {
  p = SkipWhitespace(p + 1);
  if (p < end_ && *p == '}') return p + 1;
  object->reserve(InitialCapacity(depth));
  const size_t late_names_first = s_.late_names.size();
  std::string_view name;
  const auto emit = [object, &name](auto&&... args) {
    return &object
                ->emplace_back(std::piecewise_construct, std::forward_as_tuple(name),
                               std::forward_as_tuple(std::forward<decltype(args)>(args)...))
                .second;
  };
  for (;;) {
    if (p == end_ || *p != '"') return FailUnexpected(p, "a member name (a string)");
    const char* name_at = p;
    p = ParseString(p, &s_.name, &name);
    if (p == nullptr) return nullptr;
    if (object->size() < kLinearDuplicateCheck) {
      for (const Member& m : *object) {
        if (m.first == name) return FailDuplicate(name_at - text_.data(), name);
      }
    } else {
      s_.late_names.push_back(name_at - text_.data());
    }
    p = SkipWhitespace(p);
    if (p == end_ || *p != ':') return FailUnexpected(p, "':' after the member name");
    p = SkipWhitespace(p + 1);
    if (p == end_) return FailUnexpected(p, "a value");
    p = ParseValue(p, depth, emit);
    if (p == nullptr) return nullptr;
    p = SkipWhitespace(p);
    if (p < end_ && *p == ',') {
      p = SkipWhitespace(p + 1);
    } else if (p < end_ && *p == '}') {
      if (!CheckLateDuplicates(*object, late_names_first)) return nullptr;
      s_.late_names.resize(late_names_first);
      return p + 1;
    } else {
      return FailUnexpected(p, "',' or '}' after an object member");
    }
  }
}

const char* Parser::ParseStringSlow(const char* open, const char* q, DecodeBuffer* decoded,
                                    std::string_view* out) {
  const char* run = open + 1;  // Start of the bytes not yet copied to *decoded.
  char* w = nullptr;           // The decoding cursor, once there has been an escape.
  for (;;) {
    if (q == end_) return Fail(open, "unterminated string");
    const unsigned char c = static_cast<unsigned char>(*q);
    if (c == '"') {
      if (w == nullptr) {
        *out = std::string_view(run, static_cast<size_t>(q - run));
      } else {
        const size_t n = static_cast<size_t>(q - run);
        w = decoded->Reserve(w, n);
        std::memcpy(w, run, n);
        *out = std::string_view(decoded->begin(), static_cast<size_t>(w + n - decoded->begin()));
      }
      return q + 1;
    }
    if (c >= 0x80) {
      const int n = Utf8SequenceLength(q, end_);
      if (n == 0) return Fail(q, DescribeUtf8Error(q, end_));
      q += n;
    } else if (c == '\\') {
      // Copy the run before the escape (runs between escapes are short, as in JSON embedded in a
      // string, so 16 bytes are copied at once where the input allows), then decode the escape.
      const size_t n = static_cast<size_t>(q - run);
      w = decoded->Reserve(w == nullptr ? decoded->begin() : w, n + 16);
      if (n <= 16 && end_ - run >= 16) {
        std::memcpy(w, run, 16);
      } else {
        std::memcpy(w, run, n);
      }
      w += n;
      if (end_ - q < 2) return Fail(q, "unterminated escape sequence");
      if (const char e = kUnescape[static_cast<unsigned char>(q[1])]; e != 0) {
        *w++ = e;
        q += 2;
      } else if (q[1] == 'u') {
        q = ParseUnicodeEscape(q, &w);
        if (q == nullptr) return nullptr;
      } else {
        return FailUnexpected(q + 1, "an escape character (one of \"\\/bfnrtu) after '\\'");
      }
      run = q;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "%04X", c);
      return Fail(q, std::string("unescaped control character U+") + hex +
                         " in a string (control characters must be written as escapes)");
    }
    q = SkipPlainStringBytes(q, end_);
  }
}

const char* Parser::ParseUnicodeEscape(const char* p, char** w) {
  int cp = ReadHex4(p + 2, end_);
  if (cp < 0) return Fail(p, "invalid \\u escape: expected four hex digits");
  if (cp >= 0xDC00 && cp <= 0xDFFF) {
    return Fail(p, "lone low surrogate in a \\u escape (it must follow a high surrogate)");
  }
  const char* next = p + 6;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    const int low =
        end_ - next >= 2 && next[0] == '\\' && next[1] == 'u' ? ReadHex4(next + 2, end_) : -1;
    if (low < 0xDC00 || low > 0xDFFF) {
      return Fail(p,
                  "lone high surrogate in a \\u escape (it must be followed by a \\u escape of "
                  "a low surrogate DC00-DFFF)");
    }
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    next += 6;
  }
  *w = EncodeUtf8(static_cast<uint32_t>(cp), *w);
  return next;
}

bool Parser::CheckLateDuplicates(const Object& object, size_t late_names_first) {
  const size_t count = object.size();
  if (count <= kLinearDuplicateCheck) return true;
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int c = object[a].first.compare(object[b].first);
    return c != 0 ? c < 0 : a < b;
  });
  // Equal names sit together in index order, so the first duplicate in document order is the
  // smallest index that repeats its predecessor's name.
  size_t first = count;
  for (size_t i = 1; i < count; ++i) {
    if (object[order[i]].first == object[order[i - 1]].first) first = std::min(first, order[i]);
  }
  if (first == count) return true;
  FailDuplicate(s_.late_names[late_names_first + first - kLinearDuplicateCheck],
                object[first].first);
  return false;
}

const char* Parser::Fail(const char* at, std::string_view problem, StatusCode code) {
  const size_t offset = static_cast<size_t>(at - text_.data());
  error_ = Status(code, std::string(problem) + " at " + DescribePosition(text_, offset));
  return nullptr;
}

const char* Parser::FailTooDeep(const char* at) {
  return Fail(at,
              "nesting is deeper than the limit of " + std::to_string(options_.max_depth) +
                  " (ParseOptions::max_depth)",
              StatusCode::kResourceExhausted);
}

const char* Parser::FailNumber(const NumberToken& t) {
  switch (t.error) {
    case NumberToken::Error::kUnexpected:
      return FailUnexpected(t.at, t.problem);
    case NumberToken::Error::kInvalid:
      return Fail(t.at, t.problem);
    case NumberToken::Error::kTooLarge:
    case NumberToken::Error::kNone:
      break;
  }
  const size_t length = static_cast<size_t>(t.end - t.at);
  return Fail(t.at, "number " + std::string(t.at, std::min<size_t>(length, 40)) +
                        (length > 40 ? "..." : "") + " is out of the range of an IEEE-754 double");
}

const char* Parser::FailUnexpected(const char* at, std::string_view expected) {
  std::string found;
  if (at == end_) {
    found = "end of input";
  } else if (const unsigned char c = static_cast<unsigned char>(*at); c >= 0x20 && c < 0x7F) {
    found = std::string("'") + static_cast<char>(c) + "'";
  } else {
    char hex[16];
    std::snprintf(hex, sizeof hex, "byte 0x%02X", c);
    found = hex;
  }
  std::string problem = "unexpected " + found + ", expected " + std::string(expected);
  // Name the usual culprit when a closing bracket follows a comma.
  if (at != end_ && (*at == '}' || *at == ']') && at > text_.data()) {
    const char* q = at - 1;
    while (q > text_.data() && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) --q;
    if (*q == ',') problem += " (trailing commas are not allowed)";
  }
  return Fail(at, problem);
}

const char* Parser::FailDuplicate(size_t offset, std::string_view name) {
  // Quote at most ~60 bytes of the name, cut at a character boundary.
  size_t cut = name.size();
  if (cut > 60) {
    cut = 60;
    while (cut > 0 && (name[cut] & 0xC0) == 0x80) --cut;
  }
  std::string quoted;
  AppendQuoted(std::string_view(name).substr(0, cut), &quoted);
  if (cut < name.size()) quoted.insert(quoted.size() - 1, "...");
  return Fail(text_.data() + offset, "duplicate member name " + quoted);
}

}  // namespace

StatusOr<Value> Parse(std::string_view text, const ParseOptions& options) {
  thread_local Scratch scratch;
  // Whatever happens (an error, or bad_alloc), leave the scratch empty for the next parse.
  struct Cleanup {
    Scratch& s;
    ~Cleanup() { s.Clear(); }
  } cleanup{scratch};
  return Parser(text, options, scratch).Run();
}

}  // namespace deja::json
