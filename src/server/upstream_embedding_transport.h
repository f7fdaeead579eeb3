// The remote embedder's HTTP transport (semantic/embedding_transport.h) over deja's UpstreamClient:
// pooled keep-alive connections, TLS with certificate verification, timeouts.
//
//   EmbedderOptions o;
//   o.kind = "remote";
//   o.transport = server::NewUpstreamEmbeddingTransport();
//
// timeout_ms bounds connecting (capped by UpstreamOptions::connect_timeout_ms), every wait for
// bytes, and the whole answer (checked as bytes arrive), so a call takes at most about two
// timeouts. UpstreamClient's read timeout is per client, so one client is kept per distinct
// timeout (callers use one or two).
//
// Thread safety: PostJson may be called concurrently from any thread.
#pragma once

#include <memory>

#include "semantic/embedding_transport.h"
#include "server/upstream_client.h"

namespace deja::server {

// `options` supplies TLS settings, the connect timeout cap and the pool size; its
// read_timeout_ms is replaced by each call's timeout.
std::shared_ptr<semantic::EmbeddingTransport> NewUpstreamEmbeddingTransport(
    UpstreamOptions options = {});

}  // namespace deja::server
