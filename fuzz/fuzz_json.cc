// libFuzzer target for the JSON parser and the writers. Any input must parse or fail cleanly with a
// positioned error; anything that parses must canonicalize to text that parses again and is a fixed
// point of canonicalization, and the compact writer must round-trip the value. Violations abort.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/json.h"

namespace {

[[noreturn]] void Die(const char* what, std::string_view input, std::string_view detail) {
  std::fprintf(stderr, "fuzz_json: %s\ninput (%zu bytes): %.*s\ndetail: %.*s\n", what, input.size(),
               static_cast<int>(std::min<size_t>(input.size(), 400)), input.data(),
               static_cast<int>(std::min<size_t>(detail.size(), 400)), detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  deja::json::ParseOptions options;
  options.max_depth = 24;  // Keeps deep inputs cheap; the limit itself is part of what is fuzzed.
  deja::StatusOr<deja::json::Value> doc = deja::json::Parse(text, options);
  if (!doc.ok()) {
    const deja::Status& s = doc.status();
    if (s.code() != deja::StatusCode::kInvalidArgument &&
        s.code() != deja::StatusCode::kResourceExhausted) {
      Die("unexpected error code", text, s.ToString());
    }
    if (s.message().find(" at line ") == std::string::npos) {
      Die("error without a position", text, s.ToString());
    }
    return 0;
  }

  const std::string canonical = deja::json::WriteCanonical(*doc);
  deja::StatusOr<deja::json::Value> reparsed = deja::json::Parse(canonical, options);
  if (!reparsed.ok()) Die("canonical output does not parse", text, reparsed.status().ToString());
  const std::string again = deja::json::WriteCanonical(*reparsed);
  if (again != canonical) Die("canonicalization is not idempotent", text, canonical + "\n" + again);

  const std::string compact = deja::json::Write(*doc);
  deja::StatusOr<deja::json::Value> round = deja::json::Parse(compact, options);
  if (!round.ok()) Die("compact output does not parse", text, round.status().ToString());
  if (!(*round == *doc)) Die("compact output does not round-trip", text, compact);
  return 0;
}
