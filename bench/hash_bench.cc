// BLAKE3 (deja's request fingerprint) against OpenSSL's SHA-256 through the EVP API.
//
// Reference: BM_Sha256_Ref at each size (see bench/README.md for the naming convention). SHA-256
// uses the CPU's SHA extensions when it has them, which makes it a demanding reference.
// Sizes: 1 to 4 KiB span a typical request body on the hit path; 64 KiB is bulk throughput.
// BM_Blake3 is what deja runs (best backend for the CPU); the others force one backend each.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdint>
#include <string>

#include "core/blake3.h"
#include "core/blake3_impl.h"

namespace {

using deja::blake3_internal::Backend;

std::string Input(size_t len) {
  std::string s(len, '\0');
  for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>((i * 131) ^ (i >> 7));
  return s;
}

void BM_Sha256_Ref(benchmark::State& state) {
  const std::string data = Input(static_cast<size_t>(state.range(0)));
  // Fetch the implementation once, as a server would, so the loop measures hashing, not lookup.
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  for (auto _ : state) {
    EVP_DigestInit_ex(ctx, md, nullptr);
    EVP_DigestUpdate(ctx, data.data(), data.size());
    EVP_DigestFinal_ex(ctx, out, &out_len);
    benchmark::DoNotOptimize(out);
  }
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// What deja calls: the best backend for this CPU.
void BM_Blake3(benchmark::State& state) {
  const std::string data = Input(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    std::array<uint8_t, 32> h = deja::Blake3Hash(data);
    benchmark::DoNotOptimize(h);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  // At bulk sizes the SIMD paths should beat even hardware SHA-256.
  if (state.range(0) >= 65536) state.counters["target_ratio"] = 1.0;
}

// Each backend forced, to show what the SIMD kernels buy.
void BlakeOnBackend(benchmark::State& state, Backend b) {
  if (!deja::blake3_internal::BackendSupported(b)) {
    state.SkipWithError("backend not supported by this CPU");
    return;
  }
  const std::string data = Input(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    deja::Blake3 h;
    deja::blake3_internal::Access::SetBackend(h, b);
    h.Update(data);
    std::array<uint8_t, 32> out = h.Finalize();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_Blake3Portable(benchmark::State& state) { BlakeOnBackend(state, Backend::kPortable); }
void BM_Blake3Sse41(benchmark::State& state) { BlakeOnBackend(state, Backend::kSse41); }
void BM_Blake3Avx2(benchmark::State& state) { BlakeOnBackend(state, Backend::kAvx2); }

BENCHMARK(BM_Sha256_Ref)->Arg(1024)->Arg(1536)->Arg(2048)->Arg(3072)->Arg(4096)->Arg(65536);
BENCHMARK(BM_Blake3)->Arg(1024)->Arg(1536)->Arg(2048)->Arg(3072)->Arg(4096)->Arg(65536);
BENCHMARK(BM_Blake3Portable)->Arg(1024)->Arg(1536)->Arg(2048)->Arg(3072)->Arg(4096)->Arg(65536);
BENCHMARK(BM_Blake3Sse41)->Arg(1024)->Arg(1536)->Arg(2048)->Arg(3072)->Arg(4096)->Arg(65536);
BENCHMARK(BM_Blake3Avx2)->Arg(1024)->Arg(1536)->Arg(2048)->Arg(3072)->Arg(4096)->Arg(65536);

}  // namespace

BENCHMARK_MAIN();
