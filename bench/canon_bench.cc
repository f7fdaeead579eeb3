// The hit path's CPU work per request: parse the body, canonicalize it (RFC 8785), fingerprint it
// with BLAKE3. Input: a realistic ~2 KB OpenAI chat completion request (system prompt, a few turns,
// one tool definition, sampling parameters, keys in client order, some non-ASCII text).
//
// Target: BM_ParseCanonicalHash at most 5 µs median. Reference: BM_Sha256Body_Ref, OpenSSL SHA-256
// of the raw body, a fixed yardstick for comparing runs on different (noisy) machines.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/blake3.h"
#include "core/json.h"

namespace {

constexpr double kTargetNs = 5000;

// Drops the layout whitespace outside strings: clients send compact JSON (the OpenAI SDKs send
// json.dumps-style output), and the body below is indented only to be readable here.
std::string Compact(std::string_view pretty) {
  std::string out;
  bool in_string = false, escaped = false;
  for (char c : pretty) {
    if (in_string) {
      in_string = escaped || c != '"';
      escaped = !escaped && c == '\\';
    } else if (c == '"') {
      in_string = true;
    } else if (c == '\n' || c == ' ') {
      continue;
    }
    out.push_back(c);
  }
  return out;
}

const std::string& RequestBody() {
  static const std::string body = Compact(R"({
  "model": "gpt-4o-mini",
  "messages": [
    {
      "role": "system",
      "content": "You are a support assistant for Acme Cloud. Answer concisely and accurately. If the user asks about billing, first look up their account with the get_account tool; never guess amounts. Use metric units. When you quote a limit, say which plan it applies to. If you are not sure, say so and offer to open a ticket. Format code in fenced blocks and keep answers under 200 words unless the user asks for more detail. Users may write in any language; reply in theirs (e.g. français, español, 日本語)."
    },
    {
      "role": "user",
      "content": "Hi! My deploys started failing yesterday with \"quota exceeded\" on the build step. Nothing changed on our side. Account id is acme-4711."
    },
    {
      "role": "assistant",
      "content": null,
      "tool_calls": [
        {
          "id": "call_8f2b1c",
          "type": "function",
          "function": {"name": "get_account", "arguments": "{\"account_id\":\"acme-4711\",\"fields\":[\"plan\",\"usage\"]}"}
        }
      ]
    },
    {
      "role": "tool",
      "tool_call_id": "call_8f2b1c",
      "content": "{\"plan\":\"team\",\"usage\":{\"build_minutes\":3012,\"build_minutes_limit\":3000,\"period_end\":\"2024-06-30\"}}"
    },
    {
      "role": "assistant",
      "content": "Your team plan includes 3000 build minutes per month and you have used 3012, so new builds are blocked until the period ends on 30 June. You can upgrade, buy a 1000-minute add-on, or cache dependencies to cut build time."
    },
    {
      "role": "user",
      "content": "How much is the add-on, and can I turn on caching without changing the pipeline file?"
    }
  ],
  "tools": [
    {
      "type": "function",
      "function": {
        "name": "get_account",
        "description": "Look up an Acme Cloud account: plan, usage for the current period, and limits.",
        "parameters": {
          "type": "object",
          "properties": {
            "account_id": {"type": "string", "description": "Account identifier, e.g. acme-1234"},
            "fields": {
              "type": "array",
              "items": {"type": "string", "enum": ["plan", "usage", "limits", "owner"]},
              "description": "Which parts of the account to return"
            }
          },
          "required": ["account_id"],
          "additionalProperties": false
        }
      }
    }
  ],
  "tool_choice": "auto",
  "temperature": 0.2,
  "top_p": 1,
  "max_tokens": 512,
  "presence_penalty": 0.0,
  "user": "acme-4711"
})");
  return body;
}

// Fails the benchmark loudly instead of timing an error path.
deja::json::Value ParseOrDie(benchmark::State& state) {
  deja::StatusOr<deja::json::Value> v = deja::json::Parse(RequestBody());
  if (!v.ok()) {
    state.SkipWithError(("request does not parse: " + v.status().ToString()).c_str());
    return deja::json::Value();
  }
  return *std::move(v);
}

void SetCommon(benchmark::State& state) {
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(RequestBody().size()));
  state.counters["body_bytes"] = static_cast<double>(RequestBody().size());
}

void BM_Sha256Body_Ref(benchmark::State& state) {
  const std::string& body = RequestBody();
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  for (auto _ : state) {
    EVP_DigestInit_ex(ctx, md, nullptr);
    EVP_DigestUpdate(ctx, body.data(), body.size());
    EVP_DigestFinal_ex(ctx, out, &out_len);
    benchmark::DoNotOptimize(out);
  }
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  SetCommon(state);
}

void BM_Parse(benchmark::State& state) {
  if (ParseOrDie(state).is_null()) return;
  for (auto _ : state) {
    deja::StatusOr<deja::json::Value> v = deja::json::Parse(RequestBody());
    benchmark::DoNotOptimize(v);
  }
  SetCommon(state);
}

void BM_Canonicalize(benchmark::State& state) {
  const deja::json::Value doc = ParseOrDie(state);
  if (doc.is_null()) return;
  for (auto _ : state) {
    std::string canon = deja::json::WriteCanonical(doc);
    benchmark::DoNotOptimize(canon);
  }
  SetCommon(state);
}

void BM_Blake3Canonical(benchmark::State& state) {
  const deja::json::Value doc = ParseOrDie(state);
  if (doc.is_null()) return;
  const std::string canon = deja::json::WriteCanonical(doc);
  for (auto _ : state) {
    std::array<uint8_t, 32> h = deja::Blake3Hash(canon);
    benchmark::DoNotOptimize(h);
  }
  SetCommon(state);
  state.counters["canonical_bytes"] = static_cast<double>(canon.size());
}

// The whole hit-path fingerprint; this is the one with the target.
void BM_ParseCanonicalHash(benchmark::State& state) {
  if (ParseOrDie(state).is_null()) return;
  for (auto _ : state) {
    deja::StatusOr<deja::json::Value> v = deja::json::Parse(RequestBody());
    std::string canon = deja::json::WriteCanonical(*v);
    std::array<uint8_t, 32> h = deja::Blake3Hash(canon);
    benchmark::DoNotOptimize(h);
  }
  SetCommon(state);
  state.counters["target_ns"] = kTargetNs;
}

BENCHMARK(BM_Sha256Body_Ref);
BENCHMARK(BM_Parse);
BENCHMARK(BM_Canonicalize);
BENCHMARK(BM_Blake3Canonical);
BENCHMARK(BM_ParseCanonicalHash);

}  // namespace

BENCHMARK_MAIN();
