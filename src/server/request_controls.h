// Per-request cache controls, read from request headers. These headers are deja's own: they are
// consumed here and never forwarded upstream.
//
//   Cache-Control: no-cache      skip the lookup, call upstream, refresh the entry
//   Cache-Control: no-store      do not store the answer
//   Cache-Control: max-age=N     accept only entries younger than N seconds
//   X-Deja-TTL: N                lifetime of the entry stored from this request, seconds
//   X-Deja-Namespace: NAME       a separate cache partition
//   X-Deja-Cache: off            bypass the cache entirely
//   X-Deja-Similarity: 0.9       semantic tier: the similarity a cached question must reach (0..1)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "deja/status.h"
#include "server/http_types.h"

namespace deja::server {

struct RequestControls {
  bool off = false;
  bool no_cache = false;
  bool no_store = false;
  int64_t max_age_s = -1;  // -1: any age
  int64_t ttl_s = -1;      // -1: the configured default
  std::string name_space;
  double similarity = -1;  // -1: semantic.threshold
};

// InvalidArgument (answered with 400) for a malformed value, naming the header.
StatusOr<RequestControls> ParseRequestControls(const Headers& headers);

// True for headers deja consumes (Cache-Control, X-Deja-*) and for hop-by-hop headers that must not
// be forwarded upstream.
bool IsConsumedRequestHeader(std::string_view name);

}  // namespace deja::server
