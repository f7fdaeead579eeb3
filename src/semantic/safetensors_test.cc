#include "semantic/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>

namespace deja::semantic {
namespace {

std::string TempPath(const std::string& name) {
  return testing::TempDir() + "/deja_st_" + std::to_string(::getpid()) + "_" + name;
}

// Writes a safetensors file: header JSON padded to 8 bytes, then `data`.
std::string Write(const std::string& name, std::string header, const std::string& data) {
  while ((header.size() + 8) % 8 != 0) header.push_back(' ');
  const uint64_t len = header.size();
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &len, 8);
  bytes += header;
  bytes += data;
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return s;
}

TEST(SafeTensorsTest, ReadsTensorsOfEveryDtypeUsed) {
  const std::string data = Bytes<float>({1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f}) +
                           Bytes<uint16_t>({FloatToHalf(0.5f), FloatToHalf(-1.0f)}) +
                           Bytes<int8_t>({-128, 127}) + Bytes<int32_t>({7, -3}) +
                           Bytes<double>({0.25});
  const std::string path = Write("ok",
                                 R"({"__metadata__":{"format":"pt"},)"
                                 R"("m":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                                 R"("h":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},)"
                                 R"("q":{"dtype":"I8","shape":[2],"data_offsets":[28,30]},)"
                                 R"("i":{"dtype":"I32","shape":[2],"data_offsets":[30,38]},)"
                                 R"("d":{"dtype":"F64","shape":[1],"data_offsets":[38,46]}})",
                                 data);
  StatusOr<SafeTensors> st = SafeTensors::Open(path);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->tensors().size(), 5u);
  const TensorView* m = st->Find("m");
  ASSERT_NE(m, nullptr);
  EXPECT_THAT(m->shape, testing::ElementsAre(2u, 3u));
  EXPECT_EQ(m->AsFloat(2), 3.25f);
  EXPECT_EQ(m->AsFloat(5), 6.0f);
  EXPECT_EQ(st->Find("h")->AsFloat(0), 0.5f);
  EXPECT_EQ(st->Find("h")->AsFloat(1), -1.0f);
  EXPECT_EQ(st->Find("q")->AsFloat(0), -128.0f);  // Unaligned reads are fine.
  EXPECT_EQ(st->Find("i")->AsInt(1), -3);
  EXPECT_EQ(st->Find("d")->AsFloat(0), 0.25f);
  EXPECT_EQ(st->Find("missing"), nullptr);
  ::unlink(path.c_str());
}

TEST(SafeTensorsTest, RejectsMalformedFiles) {
  struct Case {
    const char* name;
    std::string header;
    size_t data_size;
  };
  const Case cases[] = {
      {"past_end", R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8},
      {"size_mismatch", R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8},
      {"bad_dtype", R"({"t":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", 8},
      {"reversed", R"({"t":{"dtype":"I8","shape":[0],"data_offsets":[4,2]}})", 8},
      {"not_json", R"({"t":)", 8},
      {"negative", R"({"t":{"dtype":"I8","shape":[-1],"data_offsets":[0,0]}})", 8},
  };
  for (const Case& c : cases) {
    const std::string path = Write(c.name, c.header, std::string(c.data_size, '\0'));
    StatusOr<SafeTensors> st = SafeTensors::Open(path);
    EXPECT_FALSE(st.ok()) << c.name;
    if (!st.ok()) {
      EXPECT_EQ(st.status().code(), StatusCode::kDataLoss) << c.name;
    }
    ::unlink(path.c_str());
  }
  // A header length past the end of the file.
  const std::string path = TempPath("short");
  std::ofstream(path, std::ios::binary).write("\xff\x00\x00\x00\x00\x00\x00\x00{}", 10);
  EXPECT_EQ(SafeTensors::Open(path).status().code(), StatusCode::kDataLoss);
  ::unlink(path.c_str());
  EXPECT_EQ(SafeTensors::Open("/nonexistent.safetensors").status().code(), StatusCode::kNotFound);
}

TEST(SafeTensorsTest, HalfConversionRoundTripsAndRounds) {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(f)), f) << f;
  }
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 4096), FloatToHalf(1.0f));  // Ties go to even.
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(1e6f))));
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
}

}  // namespace
}  // namespace deja::semantic
