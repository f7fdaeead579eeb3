// RFC 8785 conformance against the reference vectors in $DEJA_SHARED_DIR/testdata/jcs: the
// cyberphone input/output pairs and 120,019 doubles with their ECMAScript Number::toString.
#include <gtest/gtest.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/json.h"

namespace deja::json {
namespace {

namespace fs = std::filesystem;

fs::path JcsDir() { return fs::path(DEJA_SHARED_DIR) / "testdata" / "jcs"; }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

#define SKIP_WITHOUT_SHARED_DATA()                                                        \
  if (!fs::is_directory(JcsDir())) {                                                      \
    GTEST_SKIP() << "RFC 8785 vectors not found at " << JcsDir()                          \
                 << "; check out the shared reference data beside the repo or configure " \
                    "-DDEJA_SHARED_DIR=...";                                              \
  }

TEST(JcsTest, InputFilesCanonicalizeToOutputFiles) {
  SKIP_WITHOUT_SHARED_DATA();
  int checked = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(JcsDir() / "input")) {
    const fs::path expected_path = JcsDir() / "output" / entry.path().filename();
    SCOPED_TRACE(entry.path().filename().string());
    ASSERT_TRUE(fs::exists(expected_path));
    const std::string expected = ReadFile(expected_path);
    StatusOr<Value> doc = Parse(ReadFile(entry.path()));
    ASSERT_TRUE(doc.ok()) << doc.status().ToString();
    EXPECT_EQ(WriteCanonical(*doc), expected);

    // Canonical output is a fixed point, and the compact writer reproduces it byte for byte.
    StatusOr<Value> again = Parse(expected);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(WriteCanonical(*again), expected);
    EXPECT_EQ(Write(*again), expected);
    ++checked;
  }
  EXPECT_EQ(checked, 6);  // arrays, french, structures, unicode, values, weird.
}

TEST(JcsTest, Es6NumberFormatting) {
  SKIP_WITHOUT_SHARED_DATA();
  std::ifstream in(JcsDir() / "es6-numbers.csv");
  ASSERT_TRUE(in) << "cannot open es6-numbers.csv";
  std::string line, out;
  int lines = 0, checked = 0, skipped = 0, failures = 0;
  while (std::getline(in, line)) {
    ++lines;
    const size_t comma = line.find(',');
    ASSERT_EQ(comma, 16u) << "malformed line " << lines << ": " << line;
    uint64_t bits = 0;
    ASSERT_EQ(std::from_chars(line.data(), line.data() + 16, bits, 16).ec, std::errc());
    const double d = std::bit_cast<double>(bits);
    const std::string_view expected = std::string_view(line).substr(comma + 1);
    if (!std::isfinite(d)) {  // RFC 8785 has no NaN or Infinity; they are not JSON.
      ++skipped;
      continue;
    }
    out.clear();
    AppendEs6Number(d, &out);
    if (out != expected && ++failures <= 10) {
      ADD_FAILURE() << "bits " << line.substr(0, 16) << ": got " << out << ", want " << expected;
    }
    // The parser must read the ECMAScript text back to the same double (both zeros read as +0).
    StatusOr<Value> parsed = Parse(expected);
    if (!parsed.ok() || !parsed->is_number() ||
        (d != 0 && std::bit_cast<uint64_t>(parsed->as_number()) != bits)) {
      if (++failures <= 10) {
        ADD_FAILURE() << "parsing " << expected << " does not give bits " << line.substr(0, 16);
      }
    }
    ++checked;
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(lines, 120019);
  EXPECT_EQ(skipped, 0);
  EXPECT_EQ(checked, 120019);
}

}  // namespace
}  // namespace deja::json
