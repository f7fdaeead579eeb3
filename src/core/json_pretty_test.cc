#include <gtest/gtest.h>

#include "core/json.h"

namespace deja::json {
namespace {

TEST(JsonPrettyTest, IndentsNestedValuesAndKeepsOrder) {
  auto v = Parse(R"({"b":[1,{"x":"y"}],"a":{},"c":[]})");
  ASSERT_TRUE(v.ok());
  std::string out;
  AppendPretty(*v, 0, &out);
  EXPECT_EQ(out,
            "{\n  \"b\": [\n    1,\n    {\n      \"x\": \"y\"\n    }\n  ],\n"
            "  \"a\": {},\n  \"c\": []\n}");
  auto again = Parse(out);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *v);
}

TEST(JsonPrettyTest, StartsAtTheGivenDepth) {
  std::string out;
  AppendPretty(*Parse(R"([true])"), 1, &out);
  EXPECT_EQ(out, "[\n    true\n  ]");
}

}  // namespace
}  // namespace deja::json
