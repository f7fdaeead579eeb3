// EmbeddingTransport: how the remote embedder reaches an HTTP embeddings endpoint.
//
// The semantic layer sits below the server layer (which owns deja's HTTP client), so it defines
// this small interface and the server layer implements it (server/upstream_embedding_transport.h,
// over UpstreamClient). Tests may implement it too.
//
// Thread safety: implementations must allow concurrent PostJson calls from any thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "deja/status.h"

namespace deja::semantic {

struct EmbeddingHttpReply {
  int status = 0;    // HTTP status code
  std::string body;  // the whole response body
};

class EmbeddingTransport {
 public:
  virtual ~EmbeddingTransport() = default;

  // POSTs `body` (JSON) to `url` (absolute, "http(s)://host[:port]/path") with `headers`, and
  // returns the status and body, whatever the status. The call as a whole is bounded by
  // `timeout_ms` (implementations may overshoot by at most one more timeout_ms while connecting).
  // Errors: InvalidArgument (bad URL), Unavailable (DNS, connect, TLS, broken connection),
  // DeadlineExceeded (timeout), ResourceExhausted (an absurdly large answer).
  virtual StatusOr<EmbeddingHttpReply> PostJson(
      const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
      const std::string& body, int timeout_ms) = 0;
};

}  // namespace deja::semantic
