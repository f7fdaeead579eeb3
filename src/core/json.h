// A small JSON document model, a strict parser and writers.
//
// The parser accepts exactly RFC 8259 JSON restricted to I-JSON (RFC 7493), as RFC 8785 requires:
// UTF-8 only, no duplicate member names, no lone surrogates in escapes, numbers that fit an
// IEEE-754 double. It enforces a depth limit and a size limit and never crashes or hangs on any
// input.
//
//   StatusOr<json::Value> doc = json::Parse(body, {.max_depth = 64});
//   if (!doc.ok()) return doc.status();   // message names the problem and the byte offset
//   std::string canon = json::WriteCanonical(*doc);   // RFC 8785 bytes
//
// Objects keep their members in input order (WriteCanonical sorts; Write keeps order).
// Thread safety: a Value is a plain value; const access from many threads is safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "deja/status.h"

namespace deja::json {

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

class Value;
using Array = std::vector<Value>;
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;

class Value {
 public:
  Value() = default;  // null
  explicit Value(std::nullptr_t) {}
  explicit Value(bool b) : rep_(b) {}
  explicit Value(double d) : rep_(d) {}
  explicit Value(int64_t i) : rep_(static_cast<double>(i)) {}
  explicit Value(int i) : rep_(static_cast<double>(i)) {}
  explicit Value(std::string s) : rep_(std::move(s)) {}
  explicit Value(std::string_view s) : rep_(std::string(s)) {}
  explicit Value(const char* s) : rep_(std::string(s)) {}
  explicit Value(Array a) : rep_(std::move(a)) {}
  explicit Value(Object o) : rep_(std::move(o)) {}

  static Value MakeArray() { return Value(Array{}); }
  static Value MakeObject() { return Value(Object{}); }

  Type type() const { return static_cast<Type>(rep_.index()); }
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_number() const { return type() == Type::kNumber; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }

  // REQUIRES: the matching type.
  bool as_bool() const { return std::get<bool>(rep_); }
  double as_number() const { return std::get<double>(rep_); }
  const std::string& as_string() const { return std::get<std::string>(rep_); }
  std::string& as_string() { return std::get<std::string>(rep_); }
  const Array& as_array() const { return std::get<Array>(rep_); }
  Array& as_array() { return std::get<Array>(rep_); }
  const Object& as_object() const { return std::get<Object>(rep_); }
  Object& as_object() { return std::get<Object>(rep_); }

  // Object member lookup (linear; objects in requests are small). nullptr if absent or not an
  // object.
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  // String member or `fallback` when absent / not a string.
  std::string_view GetString(std::string_view key, std::string_view fallback = {}) const;
  // Sets (replacing) an object member. REQUIRES: is_object().
  void Set(std::string key, Value v);
  // Removes an object member; returns whether it was present.
  bool Erase(std::string_view key);
  // Appends to an array. REQUIRES: is_array().
  void Push(Value v) { as_array().push_back(std::move(v)); }

  friend bool operator==(const Value& a, const Value& b) { return a.rep_ == b.rep_; }

 private:
  std::variant<std::monostate, bool, double, std::string, Array, Object> rep_;
};

struct ParseOptions {
  // Deepest nesting of arrays/objects accepted. A scalar at top level has depth 0; `[]` has
  // depth 1. This also bounds recursion: parsing takes about 200 bytes of stack per level (ten
  // times that under AddressSanitizer), and destroying a Value recurses per level too, so keep it
  // far below what the calling thread's stack can hold.
  size_t max_depth = 128;
  // Largest input accepted, in bytes.
  size_t max_size = 64u << 20;
};

// Parses one JSON text (surrounding whitespace allowed, nothing else after it).
// Errors are InvalidArgument (malformed, duplicate name, bad UTF-8, lone surrogate, number out of
// double range such as 1e400) or ResourceExhausted (depth or size limit), with a message like
// "duplicate member name \"a\" at line 1, column 9 (byte 8)" (columns count characters).
StatusOr<Value> Parse(std::string_view text, const ParseOptions& options = {});

// RFC 8785 canonical serialization: members sorted by UTF-16 code units, minimal escaping,
// ECMAScript number formatting, no whitespace.
std::string WriteCanonical(const Value& v);
void AppendCanonical(const Value& v, std::string* out);

// Compact serialization keeping member order (same escaping and number rules as canonical).
std::string Write(const Value& v);
void AppendWrite(const Value& v, std::string* out);

// Indented JSON for people (two spaces per level, member order kept; scalars as in Write). `depth`
// is the nesting level the value starts at, so it can be embedded in an indented document.
void AppendPretty(const Value& v, int depth, std::string* out);

// Appends `d` as ECMAScript Number.prototype.toString does (RFC 8785 section 3.2.2.3).
// NaN and infinities, which JSON cannot represent, are written as null (as JSON.stringify does).
void AppendEs6Number(double d, std::string* out);

// Appends `s` as a JSON string literal with RFC 8785 escaping. REQUIRES: s is valid UTF-8.
void AppendQuoted(std::string_view s, std::string* out);

}  // namespace deja::json
