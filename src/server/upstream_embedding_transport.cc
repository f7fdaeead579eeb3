#include "server/upstream_embedding_transport.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "server/absolute_url.h"

namespace deja::server {
namespace {

// Largest answer accepted (the remote embedder parses at most this much).
constexpr size_t kMaxReplyBytes = size_t{256} << 20;

class UpstreamEmbeddingTransport final : public semantic::EmbeddingTransport {
 public:
  explicit UpstreamEmbeddingTransport(UpstreamOptions options) : options_(std::move(options)) {}

  StatusOr<semantic::EmbeddingHttpReply> PostJson(
      const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
      const std::string& body, int timeout_ms) override {
    timeout_ms = std::max(1, timeout_ms);
    DEJA_ASSIGN_OR_RETURN(SplitUrl split, SplitAbsoluteUrl(url));
    UpstreamClient& client = ClientFor(timeout_ms);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    semantic::EmbeddingHttpReply reply;
    bool late = false;
    bool too_big = false;
    UpstreamRequest request;
    request.base_url = std::move(split.base);
    request.method = "POST";
    request.target = std::move(split.target);
    request.headers = Headers(headers.begin(), headers.end());
    request.body = body;
    Status s = client.Send(
        request,
        [&](const UpstreamResponseHead& head) {
          reply.status = head.status;
          late = std::chrono::steady_clock::now() > deadline;
          return !late;
        },
        [&](std::string_view chunk) {
          reply.body.append(chunk);
          too_big = reply.body.size() > kMaxReplyBytes;
          late = std::chrono::steady_clock::now() > deadline;
          return !late && !too_big;
        });
    if (too_big) {
      return ResourceExhaustedError("answer larger than " + std::to_string(kMaxReplyBytes >> 20) +
                                    " MiB");
    }
    if (late) {
      return DeadlineExceededError("no complete answer within " + std::to_string(timeout_ms) +
                                   " ms");
    }
    if (!s.ok()) return s;
    return reply;
  }

 private:
  UpstreamClient& ClientFor(int timeout_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    std::unique_ptr<UpstreamClient>& client = clients_[timeout_ms];
    if (client == nullptr) {
      UpstreamOptions o = options_;
      o.connect_timeout_ms = std::min(o.connect_timeout_ms, timeout_ms);
      o.read_timeout_ms = timeout_ms;
      client = std::make_unique<UpstreamClient>(o);
    }
    return *client;
  }

  const UpstreamOptions options_;
  std::mutex mu_;
  std::map<int, std::unique_ptr<UpstreamClient>> clients_;  // by timeout; never erased
};

}  // namespace

std::shared_ptr<semantic::EmbeddingTransport> NewUpstreamEmbeddingTransport(
    UpstreamOptions options) {
  return std::make_shared<UpstreamEmbeddingTransport>(std::move(options));
}

}  // namespace deja::server
