// The strict parser (one test per rejection class, each checking the error code and that the
// message names the position), the writers, and the Value accessors.
#include "core/json.h"

// GCC 12 at -O3 reports -Wmaybe-uninitialized inside std::variant's move of a json::Value holding
// a number (the vector alternative's members "may be used uninitialized"; a known false positive
// of GCC's variant analysis, e.g. GCC bug 105562). Only this test file trips it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace deja::json {
namespace {

using ::testing::HasSubstr;

// Parses `text`, which must fail with `code`; returns the message for further checks.
std::string ErrorOf(std::string_view text, StatusCode code = StatusCode::kInvalidArgument,
                    const ParseOptions& options = {}) {
  StatusOr<Value> v = Parse(text, options);
  if (v.ok()) {
    ADD_FAILURE() << "accepted: " << text;
    return "";
  }
  EXPECT_EQ(v.status().code(), code) << v.status().ToString();
  return v.status().message();
}

// Fails with InvalidArgument, names `problem`, and gives the position as line/column/byte;
// `position` is all of that or its "(byte N)" tail.
void ExpectRejected(std::string_view text, std::string_view problem, std::string_view position) {
  SCOPED_TRACE(std::string("input: ") + std::string(text));
  const std::string message = ErrorOf(text);
  EXPECT_THAT(message, HasSubstr(std::string(problem)));
  EXPECT_THAT(message, HasSubstr(" at line "));
  EXPECT_THAT(message, HasSubstr(std::string(position)));
}

Value MustParse(std::string_view text, const ParseOptions& options = {}) {
  StatusOr<Value> v = Parse(text, options);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status().ToString();
  return v.ok() ? std::move(*v) : Value();
}

TEST(JsonParseTest, AcceptsEveryKindOfValue) {
  Value v =
      MustParse(R"( {"a": [1, -2.5e3, true, false, null, "x\n\u00e9\ud83d\ude00"], "b": {}} )");
  ASSERT_TRUE(v.is_object());
  const Array& a = v.Find("a")->as_array();
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a[0].as_number(), 1);
  EXPECT_EQ(a[1].as_number(), -2500);
  EXPECT_TRUE(a[2].as_bool());
  EXPECT_FALSE(a[3].as_bool());
  EXPECT_TRUE(a[4].is_null());
  EXPECT_EQ(a[5].as_string(), "x\n\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_TRUE(v.Find("b")->is_object());
  EXPECT_TRUE(MustParse("\"\"").as_string().empty());
  EXPECT_TRUE(MustParse("[]").as_array().empty());
  EXPECT_EQ(MustParse("\"\\u0000\"").as_string(), std::string(1, '\0'));
  EXPECT_EQ(MustParse("\"\x7F\"").as_string(), "\x7F");  // DEL is not a control character in JSON.
  EXPECT_EQ(MustParse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"").as_string(), "\"\\/\b\f\n\r\t");
}

TEST(JsonParseTest, RejectsMalformedSyntax) {
  ExpectRejected("", "unexpected end of input, expected a value", "line 1, column 1 (byte 0)");
  ExpectRejected("  ", "unexpected end of input", "line 1, column 3 (byte 2)");
  ExpectRejected("{", "unexpected end of input, expected a member name", "(byte 1)");
  ExpectRejected("[1,]", "unexpected ']', expected a value", "line 1, column 4 (byte 3)");
  ExpectRejected("[1,]", "trailing commas are not allowed", "(byte 3)");
  ExpectRejected("{\"a\":1,}", "trailing commas are not allowed", "(byte 7)");
  ExpectRejected("{\"a\" 1}", "unexpected '1', expected ':'", "line 1, column 6 (byte 5)");
  ExpectRejected("{1:2}", "expected a member name", "(byte 1)");
  ExpectRejected("[1 2]", "unexpected '2', expected ',' or ']'", "(byte 3)");
  ExpectRejected("{\"a\":1 \"b\":2}", "expected ',' or '}'", "(byte 7)");
  ExpectRejected("tru", "invalid literal", "(byte 0)");
  ExpectRejected("nul", "invalid literal", "(byte 0)");
  ExpectRejected("[True]", "unexpected 'T'", "(byte 1)");
  ExpectRejected("'a'", "unexpected '''", "(byte 0)");
  ExpectRejected("\"abc", "unterminated string", "(byte 0)");
  ExpectRejected("\"\\x\"", "unexpected 'x', expected an escape character", "(byte 2)");
  ExpectRejected("\"\\u12G4\"", "invalid \\u escape", "(byte 1)");
  ExpectRejected("\"\\", "unterminated escape", "(byte 1)");
  ExpectRejected("\xEF\xBB\xBF{}", "unexpected byte 0xEF", "(byte 0)");  // No byte-order mark.
  ExpectRejected("[\f1]", "unexpected byte 0x0C", "(byte 1)");  // Form feed is not whitespace.
}

TEST(JsonParseTest, PositionsCountLinesAndCharacters) {
  ExpectRejected("{\n  \"a\": 1,\n  \"b\": ?\n}", "unexpected '?'", "line 3, column 8 (byte 19)");
  // Columns count characters: "é" is two bytes but one column.
  ExpectRejected("[\"\xC3\xA9\", x]", "unexpected 'x'", "line 1, column 7 (byte 7)");
}

TEST(JsonParseTest, RejectsDuplicateMemberNames) {
  ExpectRejected(R"({"a":1, "a":2})", "duplicate member name \"a\"", "line 1, column 9 (byte 8)");
  // Names compare after unescaping.
  ExpectRejected(R"({"a":1,"\u0061":2})", "duplicate member name \"a\"", "(byte 7)");
  ExpectRejected(R"({"x":{"a":[],"b":0,"a":null}})", "duplicate member name \"a\"", "(byte 19)");
  // The same name in different objects is fine.
  MustParse(R"({"a":{"a":1},"b":{"a":2}})");

  // Big objects are checked when they close; the first duplicate in document order is reported.
  std::string big = "{";
  for (int i = 0; i < 40; ++i) big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  MustParse(big.substr(0, big.size() - 1) + "}");
  const size_t first_dup = big.size();
  big += "\"k30\":0,\"k1\":0,\"k30\":0}";
  ExpectRejected(big, "duplicate member name \"k30\"", "(byte " + std::to_string(first_dup) + ")");
  // Big objects nest: the inner one is checked alone, and its bookkeeping does not disturb the
  // positions recorded for its parent's members.
  std::string outer = "{";
  for (int i = 0; i < 20; ++i) outer += "\"p" + std::to_string(i) + "\":0,";
  std::string inner = "\"inner\":{";
  for (int i = 0; i < 20; ++i) inner += "\"q" + std::to_string(i) + "\":0,";
  EXPECT_THAT(ErrorOf(outer + inner + "\"q0\":1}}"), HasSubstr("duplicate member name \"q0\""));
  inner.back() = '}';
  const std::string prefix = outer + inner + ",\"x\":1,";
  ExpectRejected(prefix + "\"p17\":1}", "duplicate member name \"p17\"",
                 "(byte " + std::to_string(prefix.size()) + ")");
  const std::string long_name(100, 'n');
  EXPECT_THAT(ErrorOf("{\"" + long_name + "\":1,\"" + long_name + "\":2}"),
              HasSubstr("nnnnn...\" at line 1"));
}

TEST(JsonParseTest, RejectsInvalidUtf8) {
  ExpectRejected("\"\xC0\x80\"", "invalid UTF-8: overlong encoding", "(byte 1)");
  ExpectRejected("\"\xC1\xBF\"", "invalid UTF-8: overlong encoding", "(byte 1)");
  ExpectRejected("\"\xE0\x80\xAF\"", "invalid UTF-8: overlong encoding", "(byte 1)");
  ExpectRejected("\"\xF0\x82\x82\xAC\"", "invalid UTF-8: overlong encoding", "(byte 1)");
  ExpectRejected("\"\xED\xA0\x80\"", "invalid UTF-8: encoded surrogate", "(byte 1)");
  ExpectRejected("\"\xED\xBF\xBF\"", "invalid UTF-8: encoded surrogate", "(byte 1)");
  ExpectRejected("\"\xF4\x90\x80\x80\"", "above U+10FFFF", "(byte 1)");
  ExpectRejected("\"\xF5\x80\x80\x80\"", "above U+10FFFF", "(byte 1)");
  ExpectRejected("\"ab\xE2\x82\"", "invalid UTF-8: truncated sequence", "(byte 3)");
  ExpectRejected("\"ab\xE2\x82", "invalid UTF-8: truncated sequence", "(byte 3)");
  ExpectRejected("\"\xF0\x9F\x98\"", "invalid UTF-8: truncated sequence", "(byte 1)");
  ExpectRejected("\"\xC3\"", "invalid UTF-8: truncated sequence", "(byte 1)");
  ExpectRejected("\"\x80\"", "unexpected continuation byte 0x80", "(byte 1)");
  ExpectRejected("\"\xFF\"", "byte 0xFF never occurs in UTF-8", "(byte 1)");
  // In a member name too, and far into a long string (past the vectorized scan).
  ExpectRejected("{\"\xC0\xAF\":1}", "overlong", "(byte 2)");
  ExpectRejected("\"" + std::string(37, 'a') + "\xED\xA0\x80\"", "surrogate", "(byte 38)");
  // The extremes of each valid range are accepted.
  MustParse("\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\"");
  MustParse("\"\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\"");
}

TEST(JsonParseTest, RejectsLoneSurrogateEscapes) {
  ExpectRejected(R"("\ud800")", "lone high surrogate", "(byte 1)");
  ExpectRejected(R"("ab\uD83Dx")", "lone high surrogate", "line 1, column 4 (byte 3)");
  ExpectRejected(R"("\ud800\u0041")", "lone high surrogate", "(byte 1)");
  ExpectRejected(R"("\ud800\ud800")", "lone high surrogate", "(byte 1)");
  ExpectRejected(R"("\ud800\n")", "lone high surrogate", "(byte 1)");
  ExpectRejected(R"("\udc00")", "lone low surrogate", "(byte 1)");
  ExpectRejected(R"("\ude00\ud83d")", "lone low surrogate", "(byte 1)");
  EXPECT_EQ(MustParse(R"("\uD83D\uDE00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(MustParse(R"("\udbff\udfff")").as_string(), "\xF4\x8F\xBF\xBF");
}

TEST(JsonParseTest, RejectsNonJsonNumbers) {
  ExpectRejected("NaN", "NaN and Infinity are not valid JSON numbers", "(byte 0)");
  ExpectRejected("[Infinity]", "NaN and Infinity", "(byte 1)");
  ExpectRejected("-Infinity", "NaN and Infinity", "(byte 0)");
  ExpectRejected("01", "leading zeros are not allowed", "(byte 0)");
  ExpectRejected("[-007]", "leading zeros are not allowed", "(byte 2)");
  ExpectRejected("+1", "a leading '+' is not allowed", "(byte 0)");
  ExpectRejected(".5", "unexpected '.', expected a value", "(byte 0)");
  ExpectRejected("5.", "expected a digit after the decimal point", "(byte 2)");
  ExpectRejected("1.e5", "expected a digit after the decimal point", "(byte 2)");
  ExpectRejected("1e", "expected a digit in the exponent", "(byte 2)");
  ExpectRejected("1e+", "expected a digit in the exponent", "(byte 3)");
  ExpectRejected("-", "expected a digit after '-'", "(byte 1)");
  ExpectRejected("0x10", "unexpected data after the JSON value", "(byte 1)");
  ExpectRejected("- 1", "expected a digit after '-'", "(byte 1)");
}

TEST(JsonParseTest, RejectsNumbersBeyondDoubleRange) {
  ExpectRejected("1e400", "number 1e400 is out of the range of an IEEE-754 double", "(byte 0)");
  ExpectRejected("[0, -1e400]", "number -1e400 is out of the range", "(byte 4)");
  ExpectRejected("1.7976931348623159e308", "out of the range", "(byte 0)");
  ExpectRejected("1" + std::string(400, '0'), "is out of the range", "(byte 0)");
  EXPECT_THAT(ErrorOf("9" + std::string(400, '9')), HasSubstr("9999...")) << "long numbers cut";
  EXPECT_EQ(MustParse("1.7976931348623157e308").as_number(), std::numeric_limits<double>::max());
  // Underflow rounds to zero (keeping the sign); subnormals stay exact.
  EXPECT_EQ(MustParse("1e-400").as_number(), 0.0);
  EXPECT_TRUE(std::signbit(MustParse("-1e-400").as_number()));
  EXPECT_EQ(MustParse("0." + std::string(400, '0') + "1").as_number(), 0.0);
  EXPECT_EQ(MustParse("4.9e-324").as_number(), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(MustParse("0e99999999999999999999").as_number(), 0.0);
}

TEST(JsonParseTest, NumbersAreCorrectlyRounded) {
  EXPECT_EQ(MustParse("0.1").as_number(), 0.1);
  EXPECT_EQ(MustParse("-0").as_number(), 0.0);
  EXPECT_TRUE(std::signbit(MustParse("-0").as_number()));
  EXPECT_EQ(MustParse("9007199254740993").as_number(), 9007199254740992.0);  // Ties to even.
  EXPECT_EQ(MustParse("999999999999999").as_number(), 999999999999999.0);
  EXPECT_EQ(MustParse("2.2250738585072011e-308").as_number(), 2.225073858507201e-308);
  EXPECT_EQ(MustParse("1E2").as_number(), 100);
  EXPECT_EQ(MustParse("1e-2").as_number(), 0.01);
}

TEST(JsonParseTest, RejectsUnescapedControlCharacters) {
  ExpectRejected("\"a\nb\"", "unescaped control character U+000A", "line 1, column 3 (byte 2)");
  ExpectRejected("\"\t\"", "unescaped control character U+0009", "(byte 1)");
  ExpectRejected(std::string("\"\0\"", 3), "unescaped control character U+0000", "(byte 1)");
  ExpectRejected("{\"k\x1F\":1}", "unescaped control character U+001F", "(byte 3)");
}

TEST(JsonParseTest, RejectsTrailingGarbage) {
  ExpectRejected("{} x", "unexpected data after the JSON value", "line 1, column 4 (byte 3)");
  ExpectRejected("1 2", "unexpected data after the JSON value", "(byte 2)");
  ExpectRejected("[]]", "unexpected data after the JSON value", "(byte 2)");
  ExpectRejected("truex", "unexpected data after the JSON value", "(byte 4)");
  ExpectRejected(std::string("{}\0", 3), "unexpected data after the JSON value", "(byte 2)");
  MustParse(" \t\r\n{} \t\r\n");
}

TEST(JsonParseTest, DepthLimit) {
  auto nested = [](size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  MustParse(nested(128));
  std::string message = ErrorOf(nested(129), StatusCode::kResourceExhausted);
  EXPECT_THAT(message, HasSubstr("nesting is deeper than the limit of 128"));
  EXPECT_THAT(message, HasSubstr("at line 1, column 129 (byte 128)"));

  ParseOptions shallow;
  shallow.max_depth = 3;
  MustParse(R"({"a":[{}]})", shallow);
  EXPECT_THAT(ErrorOf(R"({"a":[{"b":[]}]})", StatusCode::kResourceExhausted, shallow),
              HasSubstr("limit of 3 (ParseOptions::max_depth) at line 1, column 12 (byte 11)"));
  ParseOptions scalars_only;
  scalars_only.max_depth = 0;
  MustParse("\"x\"", scalars_only);
  ErrorOf("[]", StatusCode::kResourceExhausted, scalars_only);

  // Hostile nesting fails fast at the limit, and a generous limit works too.
  ErrorOf(std::string(1'000'000, '['), StatusCode::kResourceExhausted);
  // (Parsing recurses per level: 1000 keeps well within the stack even under AddressSanitizer.)
  ParseOptions deep;
  deep.max_depth = 1000;
  MustParse(nested(1000), deep);
  ErrorOf(std::string(1'000'000, '['), StatusCode::kResourceExhausted, deep);
}

TEST(JsonParseTest, SizeLimit) {
  ParseOptions small;
  small.max_size = 10;
  MustParse("[1,2,3,45]", small);  // Exactly 10 bytes.
  std::string message = ErrorOf("[1,2,3,456]", StatusCode::kResourceExhausted, small);
  EXPECT_THAT(message, HasSubstr("11 bytes, over the size limit of 10 bytes"));
}

TEST(JsonWriteTest, CanonicalSortsByUtf16CodeUnits) {
  // UTF-8 byte order would put U+E000 before U+1F600; UTF-16 puts the surrogate pair (D83D) first.
  Value v = MustParse(R"({"\ue000":1,"\ud83d\ude00":2,"b":3,"a":4,"aa":5,"":6,"\u00e9":7})");
  EXPECT_EQ(
      WriteCanonical(v),
      "{\"\":6,\"a\":4,\"aa\":5,\"b\":3,\"\xC3\xA9\":7,\"\xF0\x9F\x98\x80\":2,\"\xEE\x80\x80\":1}");
  // Write keeps input order.
  EXPECT_EQ(Write(v),
            "{\"\xEE\x80\x80\":1,\"\xF0\x9F\x98\x80\":2,\"b\":3,\"a\":4,\"aa\":5,\"\":6,"
            "\"\xC3\xA9\":7}");
  // Nested objects sort too; arrays keep their order.
  EXPECT_EQ(WriteCanonical(MustParse(R"([{"z":{"y":1,"x":2},"a":[3,1]},0])")),
            R"([{"a":[3,1],"z":{"x":2,"y":1}},0])");
  // Objects beyond the inline sort buffer.
  std::string big = "{";
  for (int i = 99; i >= 0; --i)
    big += "\"k" + std::to_string(1000 + i) + "\":" + std::to_string(i) + ",";
  big.back() = '}';
  const std::string canon = WriteCanonical(MustParse(big));
  EXPECT_EQ(canon.substr(0, 20), "{\"k1000\":0,\"k1001\":1");
  EXPECT_EQ(canon.substr(canon.size() - 11), "\"k1099\":99}");
}

TEST(JsonWriteTest, EscapesOnlyWhatRfc8785Requires) {
  std::string out;
  AppendQuoted("\"\\\b\f\n\r\t\x01\x1F\x7F/\xE2\x80\xA8\xE2\x80\xA9\xC3\xA9<", &out);
  EXPECT_EQ(out, "\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7F/\xE2\x80\xA8\xE2\x80\xA9\xC3\xA9<\"");
  out.clear();
  AppendQuoted(std::string(1, '\0'), &out);
  EXPECT_EQ(out, "\"\\u0000\"");
  // Long runs around escapes (exercises the vectorized scan and its tail).
  const std::string run(40, 'x');
  out.clear();
  AppendQuoted(run + "\n" + run + "\"" + run.substr(0, 7), &out);
  EXPECT_EQ(out, "\"" + run + "\\n" + run + "\\\"" + run.substr(0, 7) + "\"");
}

// A byte-at-a-time statement of RFC 8785 string escaping, to check the vectorized writer against.
std::string ReferenceQuoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// Every byte value at every position of strings up to 40 bytes long, so each path of the writer's
// scanner (16-byte chunks, the overlapping tail, 8- and 4-byte words, single bytes) meets an
// escape at each offset.
TEST(JsonWriteTest, EscapingMatchesReferenceAtEveryPosition) {
  int checked = 0;
  for (size_t length = 1; length <= 40; ++length) {
    for (size_t pos = 0; pos < length; ++pos) {
      for (int byte = 0; byte < 256; ++byte) {
        std::string s(length, 'a');
        s[pos] = static_cast<char>(byte);
        std::string out;
        AppendQuoted(s, &out);
        if (out != ReferenceQuoted(s)) {
          ADD_FAILURE() << "length " << length << ", byte " << byte << " at " << pos << ": " << out;
          return;
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 820 * 256);
  // Two escapes in one string, in every placement.
  for (size_t length = 2; length <= 40; ++length) {
    for (size_t i = 0; i < length; ++i) {
      for (size_t j = i + 1; j < length; ++j) {
        std::string s(length, 'b');
        s[i] = '"';
        s[j] = '\x01';
        std::string out;
        AppendQuoted(s, &out);
        ASSERT_EQ(out, ReferenceQuoted(s)) << length << " " << i << " " << j;
      }
    }
  }
  // Escapes that outgrow the writer's slack, inside a document.
  const std::string controls(3000, '\x02');
  Value doc = Value::MakeArray();
  doc.Push(Value(controls));
  doc.Push(Value("tail"));
  // (Built with += rather than "[" + ...: GCC 12 -O3 warns falsely (-Wrestrict) on the latter.)
  std::string expected = "[";
  expected += ReferenceQuoted(controls);
  expected += ",\"tail\"]";
  EXPECT_EQ(Write(doc), expected);
}

// Every byte value at every position of a string literal up to 40 bytes long, against what the
// grammar says must happen, so each path of the parser's scanner meets each kind of byte.
TEST(JsonParseTest, StringBytesAtEveryPosition) {
  for (size_t length = 1; length <= 40; ++length) {
    for (size_t pos = 0; pos < length; ++pos) {
      for (int byte = 0; byte < 256; ++byte) {
        std::string content(length, 'a');
        content[pos] = static_cast<char>(byte);
        const std::string text = "\"" + content + "\"";
        StatusOr<Value> v = Parse(text);
        const std::string at = "(byte " + std::to_string(pos + 1) + ")";
        std::string expected_error;
        if (byte < 0x20) {
          expected_error = "unescaped control character";
        } else if (byte == '"') {
          expected_error = "unexpected data after the JSON value";
        } else if (byte == '\\') {
          expected_error = pos + 1 == length ? "unterminated string" : "expected an escape";
        } else if (byte >= 0x80) {
          expected_error = "invalid UTF-8";
        }
        if (expected_error.empty()) {
          if (!v.ok() || v->as_string() != content) {
            ADD_FAILURE() << "byte " << byte << " at " << pos << " of " << length << ": "
                          << v.status().ToString();
            return;
          }
        } else if (v.ok() || v.status().message().find(expected_error) == std::string::npos ||
                   (byte < 0x20 || byte >= 0x80) !=
                       (v.status().message().find(at) != std::string::npos)) {
          ADD_FAILURE() << "byte " << byte << " at " << pos << " of " << length << ": "
                        << (v.ok() ? "accepted" : v.status().ToString());
          return;
        }
      }
    }
  }
}

std::string Es6(double d) {
  std::string out;
  AppendEs6Number(d, &out);
  return out;
}

TEST(JsonWriteTest, NumbersFollowEcmaScript) {
  EXPECT_EQ(Es6(0.0), "0");
  EXPECT_EQ(Es6(-0.0), "0");
  EXPECT_EQ(Es6(1), "1");
  EXPECT_EQ(Es6(-1), "-1");
  EXPECT_EQ(Es6(0.1), "0.1");
  EXPECT_EQ(Es6(-2.5), "-2.5");
  EXPECT_EQ(Es6(1e20), "100000000000000000000");
  EXPECT_EQ(Es6(123e18), "123000000000000000000");
  EXPECT_EQ(Es6(1e21), "1e+21");
  EXPECT_EQ(Es6(1.5e21), "1.5e+21");
  EXPECT_EQ(Es6(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(Es6(1152921504606846976.0), "1152921504606847000");
  EXPECT_EQ(Es6(0.000001), "0.000001");
  EXPECT_EQ(Es6(1e-7), "1e-7");
  EXPECT_EQ(Es6(1.5e-7), "1.5e-7");
  EXPECT_EQ(Es6(123.456), "123.456");
  EXPECT_EQ(Es6(333333333.33333329), "333333333.3333333");
  EXPECT_EQ(Es6(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  EXPECT_EQ(Es6(std::numeric_limits<double>::denorm_min()), "5e-324");
  EXPECT_EQ(Es6(-std::numeric_limits<double>::min()), "-2.2250738585072014e-308");
  std::string out = "x";
  AppendEs6Number(4.5, &out);
  EXPECT_EQ(out, "x4.5");  // Appends.
  // Only a hand-built Value can hold a non-finite number; the writers still emit valid JSON.
  Value odd = Value::MakeArray();
  odd.Push(Value(std::numeric_limits<double>::quiet_NaN()));
  odd.Push(Value(-std::numeric_limits<double>::infinity()));
  EXPECT_EQ(WriteCanonical(odd), "[null,null]");
}

TEST(JsonWriteTest, RoundTrips) {
  for (const char* text : {
           R"({"model":"gpt-4o","messages":[{"role":"user","content":"Hi \"there\"\n"}],"n":1})",
           R"([null,true,false,0,-1.5,1e+21,1e-7,"\u001f\\/",[],{}])",
           "\"\xF0\x9F\x98\x80 \xE2\x80\xA8\"",
       }) {
    SCOPED_TRACE(text);
    const Value v = MustParse(text);
    EXPECT_EQ(Write(v), text);  // Already compact with minimal escapes.
    EXPECT_EQ(MustParse(Write(v)), v);
    const std::string canon = WriteCanonical(v);
    EXPECT_EQ(WriteCanonical(MustParse(canon)), canon);
  }
  // Escapes that RFC 8785 does not need are normalized away.
  EXPECT_EQ(WriteCanonical(MustParse(R"(["\u0041\/\u00e9\u2028", 1.0, 1E2, -0])")),
            "[\"A/\xC3\xA9\xE2\x80\xA8\",1,100,0]");
  // Appending keeps what is already in the buffer.
  std::string out = "prefix:";
  AppendCanonical(MustParse(R"({"b":1,"a":2})"), &out);
  AppendWrite(MustParse(R"({"b":1,"a":2})"), &out);
  EXPECT_EQ(out, R"(prefix:{"a":2,"b":1}{"b":1,"a":2})");
}

TEST(JsonValueTest, Accessors) {
  Value v = Value::MakeObject();
  v.Set("model", Value("gpt-4o"));
  v.Set("n", Value(2));
  v.Set("stream", Value(false));
  EXPECT_EQ(v.GetString("model"), "gpt-4o");
  EXPECT_EQ(v.GetString("n", "fallback"), "fallback");  // Not a string.
  EXPECT_EQ(v.GetString("absent", "fallback"), "fallback");
  ASSERT_NE(v.Find("n"), nullptr);
  EXPECT_EQ(v.Find("n")->as_number(), 2);
  EXPECT_EQ(v.Find("absent"), nullptr);

  v.Set("n", Value(3));  // Replaces in place, keeping the member's position.
  EXPECT_EQ(Write(v), R"({"model":"gpt-4o","n":3,"stream":false})");
  *v.Find("model") = Value("o1");
  EXPECT_EQ(v.GetString("model"), "o1");

  EXPECT_TRUE(v.Erase("stream"));
  EXPECT_FALSE(v.Erase("stream"));
  EXPECT_EQ(Write(v), R"({"model":"o1","n":3})");

  Value array = Value::MakeArray();
  array.Push(Value(1));
  array.Push(Value(nullptr));
  array.Push(Value(int64_t{1} << 40));
  v.Set("list", std::move(array));
  EXPECT_EQ(Write(v), R"({"model":"o1","n":3,"list":[1,null,1099511627776]})");

  // On non-objects lookups find nothing rather than failing.
  const Value scalar(1.5);
  EXPECT_EQ(scalar.Find("a"), nullptr);
  EXPECT_EQ(scalar.GetString("a", "x"), "x");
  Value text("s");
  EXPECT_FALSE(text.Erase("a"));
  EXPECT_EQ(Value(std::string_view("a")), Value("a"));
}

}  // namespace
}  // namespace deja::json
