#include "deja/store.h"
#include "gtest/gtest.h"

namespace deja {
namespace {

TEST(CacheKeyTest, HexRoundTrips) {
  CacheKey k;
  for (size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<uint8_t>(i * 37 + 5);
  std::string hex = k.Hex();
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.substr(0, 6), "052a4f");
  StatusOr<CacheKey> back = CacheKey::FromHex(hex);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, k);
}

TEST(CacheKeyTest, AcceptsUppercase) {
  std::string hex(64, 'A');
  StatusOr<CacheKey> k = CacheKey::FromHex(hex);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->bytes[0], 0xaa);
  EXPECT_EQ(k->Hex(), std::string(64, 'a'));
}

TEST(CacheKeyTest, RejectsBadLength) {
  StatusOr<CacheKey> k = CacheKey::FromHex("abcd");
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(k.status().message().find("64 hex digits"), std::string::npos);
}

TEST(CacheKeyTest, RejectsNonHex) {
  std::string hex(64, '0');
  hex[17] = 'g';
  StatusOr<CacheKey> k = CacheKey::FromHex(hex);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(k.status().message().find("position 17"), std::string::npos);
}

}  // namespace
}  // namespace deja
