// CacheKey's hex form: what users type (`deja store get KEY`) and what logs and headers show.
#include <string>
#include <string_view>

#include "deja/store.h"

namespace deja {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string CacheKey::Hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

StatusOr<CacheKey> CacheKey::FromHex(std::string_view hex) {
  CacheKey key;
  if (hex.size() != key.bytes.size() * 2) {
    return InvalidArgumentError("cache key must be " + std::to_string(key.bytes.size() * 2) +
                                " hex digits, got " + std::to_string(hex.size()) + " characters");
  }
  for (size_t i = 0; i < key.bytes.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      size_t bad = hi < 0 ? 2 * i : 2 * i + 1;
      return InvalidArgumentError("cache key has a non-hex character at position " +
                                  std::to_string(bad));
    }
    key.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return key;
}

}  // namespace deja
