// The exact-cache key.
//
//   key = BLAKE3-derive_key("deja cache key v1",
//           schema version ‖ tenant scope ‖ namespace ‖ route ‖ keyed headers ‖ canonical body)
// with every variable-length field length-prefixed, so no two field lists share an encoding.
//
// The tenant scope is a keyed BLAKE3 of the caller's credential (API key) under a per-deployment
// secret kept in the data directory: entries of different keys never meet, and no API key is
// stored.
//
// Thread safety: free functions over values; safe to call concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/normalize.h"
#include "core/route.h"
#include "deja/status.h"
#include "deja/store.h"

namespace deja {

// Bumped whenever normalization or key framing changes meaning, so old entries stop matching.
inline constexpr uint32_t kKeySchemaVersion = 1;

using DeploymentSecret = std::array<uint8_t, 32>;

struct TenantScope {
  std::array<uint8_t, 32> bytes{};
  std::string Hex() const;
  friend bool operator==(const TenantScope&, const TenantScope&) = default;
};

// Reads `<data_dir>/secret`; NotFound when it does not exist.
StatusOr<DeploymentSecret> LoadDeploymentSecret(const std::string& data_dir);

// Reads `<data_dir>/secret`, creating it (32 random bytes, mode 0600, atomically) when missing.
// Creates data_dir if needed.
StatusOr<DeploymentSecret> LoadOrCreateDeploymentSecret(const std::string& data_dir);

// The scope of a caller presenting `credential` (an API key; "" for anonymous callers).
TenantScope ScopeForCredential(const DeploymentSecret& secret, std::string_view credential);

// The credential carried by a request: `Authorization: Bearer X`, else `x-api-key`, else "".
std::string_view CredentialFromHeaders(std::string_view authorization, std::string_view x_api_key);

CacheKey ComputeKey(const TenantScope& scope, std::string_view name_space, Route route,
                    const NormalizedRequest& request);

}  // namespace deja
