#include "core/blake3.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/blake3_impl.h"

namespace deja {
namespace {

using blake3_internal::Access;
using blake3_internal::Backend;
using blake3_internal::BackendSupported;

// ---- The official test vectors (shared/testdata/blake3/test_vectors.json). ----

struct VectorCase {
  size_t input_len = 0;
  std::string hash;  // Hex of the extended output, in each mode.
  std::string keyed_hash;
  std::string derive_key;
};

struct Vectors {
  std::string key;
  std::string context;
  std::vector<VectorCase> cases;
};

// The file is a fixed, simple shape (string and integer members, no escapes inside the values we
// read), so a small scanner is enough and keeps the test free of a JSON dependency.
// Finds `"name":` at or after `pos` and before `end`; returns the position just past the colon.
std::optional<size_t> FindMember(const std::string& text, std::string_view name, size_t pos,
                                 size_t end) {
  const std::string quoted = "\"" + std::string(name) + "\"";
  for (size_t at = text.find(quoted, pos); at != std::string::npos && at < end;
       at = text.find(quoted, at + 1)) {
    size_t p = at + quoted.size();
    while (p < text.size() && (text[p] == ' ' || text[p] == '\n' || text[p] == '\r')) ++p;
    if (p < text.size() && text[p] == ':') return p + 1;
  }
  return std::nullopt;
}

std::optional<std::string> StringMember(const std::string& text, std::string_view name, size_t pos,
                                        size_t end) {
  std::optional<size_t> p = FindMember(text, name, pos, end);
  if (!p) return std::nullopt;
  const size_t open = text.find('"', *p);
  if (open == std::string::npos) return std::nullopt;
  const size_t close = text.find('"', open + 1);
  if (close == std::string::npos || close > end) return std::nullopt;
  return text.substr(open + 1, close - open - 1);
}

std::optional<Vectors> ParseVectors(const std::string& text, std::string* error) {
  Vectors v;
  const size_t cases_at = text.find("\"cases\"");
  if (cases_at == std::string::npos) {
    *error = "no \"cases\" member";
    return std::nullopt;
  }
  std::optional<std::string> key = StringMember(text, "key", 0, cases_at);
  std::optional<std::string> context = StringMember(text, "context_string", 0, cases_at);
  if (!key || !context) {
    *error = "missing \"key\" or \"context_string\"";
    return std::nullopt;
  }
  v.key = *key;
  v.context = *context;
  size_t pos = cases_at;
  while (true) {
    std::optional<size_t> len_at = FindMember(text, "input_len", pos, text.size());
    if (!len_at) break;
    std::optional<size_t> next = FindMember(text, "input_len", *len_at, text.size());
    const size_t end = next ? *next : text.size();
    VectorCase c;
    c.input_len = std::stoul(text.substr(*len_at, 32));
    std::optional<std::string> h = StringMember(text, "hash", *len_at, end);
    std::optional<std::string> k = StringMember(text, "keyed_hash", *len_at, end);
    std::optional<std::string> d = StringMember(text, "derive_key", *len_at, end);
    if (!h || !k || !d) {
      *error = "case with input_len " + std::to_string(c.input_len) + " lacks an output";
      return std::nullopt;
    }
    c.hash = *h;
    c.keyed_hash = *k;
    c.derive_key = *d;
    v.cases.push_back(std::move(c));
    pos = *len_at;
  }
  if (v.cases.empty()) {
    *error = "no cases";
    return std::nullopt;
  }
  return v;
}

const std::string kVectorsPath =
    std::string(DEJA_SHARED_DIR) + "/testdata/blake3/test_vectors.json";

// Loads the vectors once; nullopt (with the reason) when the file is absent.
const std::optional<Vectors>& LoadVectors(std::string* missing_reason) {
  static std::string reason;
  static const std::optional<Vectors> vectors = []() -> std::optional<Vectors> {
    std::ifstream f(kVectorsPath, std::ios::binary);
    if (!f) {
      reason = "BLAKE3 test vectors not found at " + kVectorsPath +
               " (set DEJA_SHARED_DIR to the directory holding testdata/)";
      return std::nullopt;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    std::string error;
    std::optional<Vectors> v = ParseVectors(ss.str(), &error);
    // A present but unreadable file is a real failure, not a skip.
    if (!v) ADD_FAILURE() << "malformed " << kVectorsPath << ": " << error;
    return v;
  }();
  *missing_reason = reason;
  return vectors;
}

#define DEJA_LOAD_VECTORS_OR_SKIP(var)                            \
  std::string skip_reason_;                                       \
  const std::optional<Vectors>& var = LoadVectors(&skip_reason_); \
  if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;        \
  ASSERT_TRUE(var.has_value())

// The vectors' input: the bytes 0, 1, ..., 250 repeating.
std::string VectorInput(size_t len) {
  std::string s(len, '\0');
  for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

enum class Mode { kHash, kKeyed, kDerive };
constexpr Mode kModes[] = {Mode::kHash, Mode::kKeyed, Mode::kDerive};

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kHash:
      return "hash";
    case Mode::kKeyed:
      return "keyed_hash";
    case Mode::kDerive:
      return "derive_key";
  }
  return "?";
}

constexpr char kKey[] = "whats the Elvish word for friend";
constexpr char kContext[] = "BLAKE3 2019-12-27 16:29:52 test vectors context";

Blake3 MakeHasher(Mode mode, Backend backend) {
  Blake3 h;
  if (mode == Mode::kKeyed) h = Blake3::Keyed(reinterpret_cast<const uint8_t*>(kKey));
  if (mode == Mode::kDerive) h = Blake3::DeriveKey(kContext);
  Access::SetBackend(h, backend);
  return h;
}

const std::string& Expected(const VectorCase& c, Mode m) {
  switch (m) {
    case Mode::kHash:
      return c.hash;
    case Mode::kKeyed:
      return c.keyed_hash;
    case Mode::kDerive:
      return c.derive_key;
  }
  return c.hash;
}

std::string HexOutput(const Blake3& h, size_t len) {
  std::vector<uint8_t> out(len);
  h.Finalize(out.data(), out.size());
  return HexEncode(out.data(), out.size());
}

std::vector<Backend> SupportedBackends() {
  std::vector<Backend> v;
  for (Backend b : {Backend::kPortable, Backend::kSse41, Backend::kAvx2}) {
    if (BackendSupported(b)) v.push_back(b);
  }
  return v;
}

const char* BackendName(Backend b) {
  switch (b) {
    case Backend::kPortable:
      return "portable";
    case Backend::kSse41:
      return "sse4.1";
    case Backend::kAvx2:
      return "avx2";
  }
  return "?";
}

// Feeds `data` in pieces whose sizes cycle through `pieces`, starting at index `phase`.
void UpdateInPieces(Blake3& h, std::string_view data, const std::vector<size_t>& pieces,
                    size_t phase) {
  size_t i = phase;
  while (!data.empty()) {
    const size_t n = std::min(data.size(), pieces[i++ % pieces.size()]);
    h.Update(data.substr(0, n));
    data.remove_prefix(n);
  }
}

TEST(Blake3Test, VectorFileHasTheDocumentedParameters) {
  DEJA_LOAD_VECTORS_OR_SKIP(v);
  EXPECT_EQ(v->key, kKey);
  EXPECT_EQ(v->context, kContext);
  EXPECT_GE(v->cases.size(), 30u);
}

TEST(Blake3Test, MatchesOfficialVectorsOnEveryBackend) {
  DEJA_LOAD_VECTORS_OR_SKIP(v);
  for (Backend b : SupportedBackends()) {
    for (const VectorCase& c : v->cases) {
      const std::string input = VectorInput(c.input_len);
      for (Mode m : kModes) {
        SCOPED_TRACE(::testing::Message()
                     << BackendName(b) << " " << ModeName(m) << " input_len=" << c.input_len);
        const std::string& want = Expected(c, m);
        Blake3 h = MakeHasher(m, b);
        h.Update(input);
        // The full extended output given in the file...
        EXPECT_EQ(HexOutput(h, want.size() / 2), want);
        // ...whose first 32 bytes are the default-length output.
        const std::array<uint8_t, 32> d = h.Finalize();
        EXPECT_EQ(HexEncode(d.data(), d.size()), want.substr(0, 64));
      }
    }
  }
}

TEST(Blake3Test, OneShotHashMatchesVectors) {
  DEJA_LOAD_VECTORS_OR_SKIP(v);
  for (const VectorCase& c : v->cases) {
    const std::array<uint8_t, 32> d = Blake3Hash(VectorInput(c.input_len));
    EXPECT_EQ(HexEncode(d.data(), d.size()), c.hash.substr(0, 64)) << "input_len=" << c.input_len;
  }
}

TEST(Blake3Test, IncrementalOddPiecesMatchVectors) {
  DEJA_LOAD_VECTORS_OR_SKIP(v);
  // Sizes straddling block (64) and chunk (1024) boundaries in every alignment.
  const std::vector<size_t> pieces = {1, 3, 7, 13, 63, 64, 65, 127, 1000, 1023, 1024, 1025, 3000};
  for (Backend b : SupportedBackends()) {
    for (const VectorCase& c : v->cases) {
      const std::string input = VectorInput(c.input_len);
      for (Mode m : kModes) {
        for (size_t phase = 0; phase < pieces.size(); phase += 3) {
          SCOPED_TRACE(::testing::Message() << BackendName(b) << " " << ModeName(m)
                                            << " input_len=" << c.input_len << " phase=" << phase);
          Blake3 h = MakeHasher(m, b);
          UpdateInPieces(h, input, pieces, phase);
          EXPECT_EQ(HexOutput(h, Expected(c, m).size() / 2), Expected(c, m));
        }
      }
    }
  }
}

TEST(Blake3Test, ByteAtATimeMatchesVectors) {
  DEJA_LOAD_VECTORS_OR_SKIP(v);
  for (const VectorCase& c : v->cases) {
    if (c.input_len > 9000) continue;
    const std::string input = VectorInput(c.input_len);
    Blake3 h;
    for (char ch : input) h.Update(&ch, 1);
    EXPECT_EQ(HexOutput(h, 32), c.hash.substr(0, 64)) << "input_len=" << c.input_len;
  }
}

// The SIMD paths must agree with the portable one on every shape of input: 0..20 chunks, each with
// a tail that is empty, one byte, one block +- 1, or a ragged chunk.
TEST(Blake3Test, SimdBackendsAgreeWithPortable) {
  std::mt19937 rng(42);
  std::string data(21 * 1024 + 64, '\0');
  for (char& ch : data) ch = static_cast<char>(rng());
  const size_t tails[] = {0, 1, 63, 64, 65, 511, 1023};
  const uint8_t key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                           17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
  for (Backend b : SupportedBackends()) {
    if (b == Backend::kPortable) continue;
    for (size_t chunks = 0; chunks <= 20; ++chunks) {
      for (size_t tail : tails) {
        const std::string_view input(data.data(), chunks * 1024 + tail);
        SCOPED_TRACE(::testing::Message() << BackendName(b) << " len=" << input.size());
        Blake3 p;
        Access::SetBackend(p, Backend::kPortable);
        p.Update(input);
        Blake3 s;
        Access::SetBackend(s, b);
        s.Update(input);
        EXPECT_EQ(HexOutput(s, 100), HexOutput(p, 100));

        Blake3 pk = Blake3::Keyed(key);
        Access::SetBackend(pk, Backend::kPortable);
        pk.Update(input);
        Blake3 sk = Blake3::Keyed(key);
        Access::SetBackend(sk, b);
        // Random piece sizes on the SIMD side, one shot on the portable side.
        std::string_view rest = input;
        while (!rest.empty()) {
          const size_t n = std::min(rest.size(), size_t{1} + rng() % 3000);
          sk.Update(rest.substr(0, n));
          rest.remove_prefix(n);
        }
        EXPECT_EQ(HexOutput(sk, 32), HexOutput(pk, 32));
      }
    }
  }
}

// The kernels themselves, including partly filled vectors and a chunk counter whose low word wraps
// inside one batch (the high word must carry per lane).
TEST(Blake3Test, ChunkKernelsAgreeWithPortable) {
  std::mt19937 rng(7);
  std::string data(20 * 1024, '\0');
  for (char& ch : data) ch = static_cast<char>(rng());
  const auto* in = reinterpret_cast<const uint8_t*>(data.data());
  for (Backend b : SupportedBackends()) {
    if (b == Backend::kPortable) continue;
    for (uint64_t counter : {uint64_t{0}, uint64_t{5}, uint64_t{0xFFFFFFFD}, uint64_t{1} << 40}) {
      for (size_t n = 1; n <= 20; ++n) {
        SCOPED_TRACE(::testing::Message()
                     << BackendName(b) << " n=" << n << " counter=" << counter);
        std::vector<uint32_t> want(8 * n), got(8 * n);
        blake3_internal::HashChunks(Backend::kPortable, in, n, blake3_internal::kIv, counter,
                                    blake3_internal::kKeyedHash, want.data());
        blake3_internal::HashChunks(b, in, n, blake3_internal::kIv, counter,
                                    blake3_internal::kKeyedHash, got.data());
        EXPECT_EQ(got, want);
      }
    }
#if defined(__x86_64__)
    // Each kernel directly, every lane count it accepts.
    const size_t max_lanes = b == Backend::kAvx2 ? 8 : 4;
    for (size_t n = 1; n <= max_lanes; ++n) {
      std::vector<uint32_t> want(8 * n), got(8 * n);
      blake3_internal::HashChunks(Backend::kPortable, in, n, blake3_internal::kIv, 0xFFFFFFFE, 0,
                                  want.data());
      if (b == Backend::kAvx2) {
        blake3_internal::HashChunksAvx2(in, n, blake3_internal::kIv, 0xFFFFFFFE, 0, got.data());
      } else {
        blake3_internal::HashChunksSse41(in, n, blake3_internal::kIv, 0xFFFFFFFE, 0, got.data());
      }
      EXPECT_EQ(got, want) << BackendName(b) << " lanes=" << n;
    }
    // The row-wise kernels, whose last chunk may be partial (a running chaining value).
    for (size_t last_blocks = 1; last_blocks <= 16; ++last_blocks) {
      for (size_t n = 2; n <= 4; ++n) {
        if (n > 2 && b != Backend::kAvx2) continue;
        SCOPED_TRACE(::testing::Message()
                     << "row kernel n=" << n << " last_blocks=" << last_blocks);
        // Only the bytes the kernel may read, so ASan catches a read past them.
        std::vector<uint8_t> exact(in, in + (n - 1) * 1024 + last_blocks * 64);
        const uint64_t counter = 0xFFFFFFFE;
        std::vector<uint32_t> want(8 * n), got(8 * n);
        blake3_internal::HashChunks(Backend::kPortable, exact.data(), n - 1, blake3_internal::kIv,
                                    counter, blake3_internal::kKeyedHash, want.data());
        uint32_t* last = want.data() + 8 * (n - 1);
        std::copy(blake3_internal::kIv, blake3_internal::kIv + 8, last);
        for (size_t i = 0; i < last_blocks; ++i) {
          uint32_t m[16];
          blake3_internal::LoadBlockWords(exact.data() + (n - 1) * 1024 + 64 * i, m);
          uint32_t f = blake3_internal::kKeyedHash;
          if (i == 0) f |= blake3_internal::kChunkStart;
          if (i == 15) f |= blake3_internal::kChunkEnd;
          blake3_internal::CompressInPlacePortable(last, m, 64, counter + n - 1, f);
        }
        if (n == 2) {
          blake3_internal::HashTwoChunksSse41(exact.data(), last_blocks, blake3_internal::kIv,
                                              counter, blake3_internal::kKeyedHash, got.data());
        } else {
          blake3_internal::HashChunksAvx2Rows(exact.data(), n, last_blocks, blake3_internal::kIv,
                                              counter, blake3_internal::kKeyedHash, got.data());
        }
        EXPECT_EQ(got, want);
      }
    }
#endif
  }
}

#if defined(__x86_64__)
TEST(Blake3Test, Sse41CompressionAgreesWithPortable) {
  if (!BackendSupported(Backend::kSse41)) GTEST_SKIP() << "CPU lacks SSE4.1";
  std::mt19937 rng(3);
  for (int trial = 0; trial < 1000; ++trial) {
    uint32_t cv[8], m[16];
    for (uint32_t& w : cv) w = static_cast<uint32_t>(rng());
    for (uint32_t& w : m) w = static_cast<uint32_t>(rng());
    const uint64_t counter = (uint64_t{rng()} << 32) | rng();
    const uint32_t len = rng() % 65, flags = rng() % 128;
    uint32_t a[8], c[8];
    std::copy(cv, cv + 8, a);
    std::copy(cv, cv + 8, c);
    blake3_internal::CompressInPlacePortable(a, m, len, counter, flags);
    blake3_internal::CompressInPlaceSse41(c, m, len, counter, flags);
    ASSERT_TRUE(std::equal(a, a + 8, c)) << "trial " << trial;
    uint32_t xa[16], xc[16];
    blake3_internal::CompressXofPortable(cv, m, len, counter, flags, xa);
    blake3_internal::CompressXofSse41(cv, m, len, counter, flags, xc);
    ASSERT_TRUE(std::equal(xa, xa + 16, xc)) << "xof trial " << trial;
  }
  // Runs of whole blocks with the chaining value kept in registers, every start/end combination.
  std::string blocks(16 * 64, '\0');
  for (char& ch : blocks) ch = static_cast<char>(rng());
  const auto* bytes = reinterpret_cast<const uint8_t*>(blocks.data());
  for (size_t n = 1; n <= 16; ++n) {
    for (int start = 0; start < 2; ++start) {
      for (int end = 0; end < 2; ++end) {
        uint32_t want[8], got[8];
        std::copy(blake3_internal::kIv, blake3_internal::kIv + 8, want);
        std::copy(blake3_internal::kIv, blake3_internal::kIv + 8, got);
        for (size_t i = 0; i < n; ++i) {
          uint32_t m[16];
          blake3_internal::LoadBlockWords(bytes + 64 * i, m);
          uint32_t f = blake3_internal::kKeyedHash;
          if (i == 0 && start) f |= blake3_internal::kChunkStart;
          if (i == n - 1 && end) f |= blake3_internal::kChunkEnd;
          blake3_internal::CompressInPlacePortable(want, m, 64, 77, f);
        }
        blake3_internal::CompressBlocksSse41(got, bytes, n, 77, blake3_internal::kKeyedHash, start,
                                             end);
        EXPECT_TRUE(std::equal(want, want + 8, got)) << "n=" << n << " " << start << end;
      }
    }
  }
}
#endif

TEST(Blake3Test, FinalizeIsRepeatableAndUpdateContinues) {
  const std::string input = VectorInput(5000);
  for (size_t split : {size_t{0}, size_t{1}, size_t{1024}, size_t{2048}, size_t{3000}}) {
    Blake3 h;
    h.Update(std::string_view(input).substr(0, split));
    const std::array<uint8_t, 32> first = h.Finalize();
    EXPECT_EQ(h.Finalize(), first);
    EXPECT_EQ(first, Blake3Hash(std::string_view(input).substr(0, split)));
    h.Update(std::string_view(input).substr(split));
    EXPECT_EQ(h.Finalize(), Blake3Hash(input)) << "split=" << split;
  }
}

TEST(Blake3Test, CopiesContinueIndependently) {
  const std::string input = VectorInput(40000);
  const std::string_view in(input);
  // Mid-stream at several tree shapes: inside the first chunk, on a chunk boundary with pushed
  // subtrees, and with a deep stack.
  for (size_t split : {size_t{10}, size_t{3072}, size_t{31 * 1024 + 5}}) {
    Blake3 original = Blake3::DeriveKey("copy test");
    original.Update(in.substr(0, split));
    Blake3 copy(original);
    Blake3 assigned;
    assigned = original;
    original.Update("diverge");
    copy.Update(in.substr(split));
    assigned.Update(in.substr(split));
    Blake3 straight = Blake3::DeriveKey("copy test");
    straight.Update(in);
    EXPECT_EQ(copy.Finalize(), straight.Finalize()) << "split=" << split;
    EXPECT_EQ(assigned.Finalize(), straight.Finalize()) << "split=" << split;
    EXPECT_NE(original.Finalize(), straight.Finalize());
  }
}

TEST(Blake3Test, ShorterOutputIsPrefixOfLonger) {
  for (size_t input_len : {size_t{0}, size_t{100}, size_t{1024}, size_t{4097}}) {
    Blake3 h;
    h.Update(VectorInput(input_len));
    const std::string full = HexOutput(h, 1000);
    for (size_t n : {size_t{0}, size_t{1}, size_t{31}, size_t{32}, size_t{33}, size_t{63},
                     size_t{64}, size_t{65}, size_t{128}, size_t{999}}) {
      EXPECT_EQ(HexOutput(h, n), full.substr(0, 2 * n)) << "input_len=" << input_len << " n=" << n;
    }
  }
}

TEST(Blake3Test, ModesAreDomainSeparated) {
  const uint8_t zero_key[32] = {};
  EXPECT_NE(Blake3Hash("abc"), [&] {
    Blake3 h = Blake3::Keyed(zero_key);
    h.Update("abc");
    return h.Finalize();
  }());
  Blake3 a = Blake3::DeriveKey("context A");
  Blake3 b = Blake3::DeriveKey("context B");
  a.Update("material");
  b.Update("material");
  EXPECT_NE(a.Finalize(), b.Finalize());
}

TEST(Blake3Test, HexEncodeIsLowercase) {
  const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xCD, 0xff};
  EXPECT_EQ(HexEncode(bytes, sizeof(bytes)), "0001abcdff");
  EXPECT_EQ(HexEncode(bytes, 0), "");
}

}  // namespace
}  // namespace deja
