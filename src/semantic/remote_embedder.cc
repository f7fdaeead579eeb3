#include "semantic/remote_embedder.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "core/json.h"
#include "semantic/text.h"

namespace deja::semantic {
namespace {

// Largest answer parsed: 2048 texts of 3072 floats written out as JSON take ~140 MB.
constexpr size_t kMaxAnswerBytes = size_t{256} << 20;
// Longest server error message quoted in a Status.
constexpr size_t kMaxQuotedError = 300;
// The text embedded to learn the dimension when a batch holds only empty texts.
constexpr std::string_view kProbeText = "dimension probe";

// Texts must be valid UTF-8 to be written as JSON strings: invalid bytes become U+FFFD.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) AppendUtf8(DecodeUtf8(s, &i), &out);
  return out;
}

// Decodes standard base64 (padding optional). False on any other character.
bool DecodeBase64(std::string_view in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  out->clear();
  out->reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

class RemoteEmbedder final : public Embedder {
 public:
  RemoteEmbedder(RemoteEmbedderOptions options, std::shared_ptr<EmbeddingTransport> transport,
                 std::shared_ptr<CircuitBreaker> breaker)
      : options_(std::move(options)),
        endpoint_(EmbeddingsUrl(options_.url)),
        transport_(std::move(transport)),
        breaker_(std::move(breaker)),
        dims_(options_.dimensions) {}

  std::string_view name() const override { return "remote"; }
  // 0 until the first answer when no dimension was configured.
  int dimensions() const override { return dims_.load(std::memory_order_acquire); }
  std::optional<CircuitBreaker::Counters> BreakerCounters() const override {
    return breaker_->counters();
  }

  Status Embed(std::string_view text, std::vector<float>* out) const override {
    std::vector<std::vector<float>> vs;
    DEJA_RETURN_IF_ERROR(EmbedBatch(std::span<const std::string_view>(&text, 1), &vs));
    *out = std::move(vs[0]);
    return Status::Ok();
  }

  Status EmbedBatch(std::span<const std::string_view> texts,
                    std::vector<std::vector<float>>* out) const override {
    std::vector<size_t> to_send;  // Indices of the non-empty texts.
    for (size_t i = 0; i < texts.size(); ++i) {
      if (!texts[i].empty()) to_send.push_back(i);
    }
    std::vector<std::vector<float>> result(texts.size());
    const size_t batch = static_cast<size_t>(std::max(1, options_.batch_size));
    for (size_t start = 0; start < to_send.size(); start += batch) {
      const size_t end = std::min(to_send.size(), start + batch);
      std::vector<std::string_view> chunk;
      for (size_t k = start; k < end; ++k) chunk.push_back(texts[to_send[k]]);
      std::vector<std::vector<float>> vectors;
      DEJA_RETURN_IF_ERROR(Call(chunk, &vectors));
      for (size_t k = start; k < end; ++k) result[to_send[k]] = std::move(vectors[k - start]);
    }
    if (to_send.size() < texts.size()) {
      if (dimensions() == 0) {  // Only empty texts so far: learn the dimension to size zeros.
        std::vector<std::vector<float>> probe;
        const std::string_view text = kProbeText;
        DEJA_RETURN_IF_ERROR(Call(std::span<const std::string_view>(&text, 1), &probe));
      }
      for (size_t i = 0; i < texts.size(); ++i) {
        if (texts[i].empty()) result[i].assign(static_cast<size_t>(dimensions()), 0.0f);
      }
    }
    *out = std::move(result);
    return Status::Ok();
  }

 private:
  // One request through the breaker.
  Status Call(std::span<const std::string_view> texts, std::vector<std::vector<float>>* out) const {
    if (!breaker_->Allow()) {
      const CircuitBreaker::Counters c = breaker_->counters();
      return UnavailableError("remote embedder: circuit open after " +
                              std::to_string(c.consecutive_failures) + " consecutive failures of " +
                              endpoint_ + "; next try in " +
                              std::to_string(breaker_->RetryInMillis()) + " ms");
    }
    Status s = Request(texts, out);
    if (s.ok()) {
      breaker_->RecordSuccess();
    } else {
      breaker_->RecordFailure();
    }
    return s;
  }

  Status Request(std::span<const std::string_view> texts,
                 std::vector<std::vector<float>>* out) const {
    json::Value input = json::Value::MakeArray();
    for (std::string_view t : texts) input.Push(json::Value(ValidUtf8(t)));
    json::Value body = json::Value::MakeObject();
    body.Set("model", json::Value(options_.model));
    body.Set("input", std::move(input));
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Type", "application/json"}, {"Accept", "application/json"}};
    if (!options_.api_key.empty())
      headers.emplace_back("Authorization", "Bearer " + options_.api_key);

    StatusOr<EmbeddingHttpReply> reply =
        transport_->PostJson(endpoint_, headers, json::Write(body), options_.timeout_ms);
    if (!reply.ok()) {
      return Status(reply.status().code(),
                    "remote embedder: POST " + endpoint_ + ": " + Scrub(reply.status().message()));
    }
    if (reply->status < 200 || reply->status > 299) return HttpError(*reply);
    return ParseAnswer(reply->body, texts.size(), out);
  }

  Status HttpError(const EmbeddingHttpReply& reply) const {
    std::string detail = ErrorMessageOf(reply.body);
    if (detail.size() > kMaxQuotedError) detail = detail.substr(0, kMaxQuotedError) + "...";
    std::string message = "remote embedder: " + endpoint_ + " answered " +
                          std::to_string(reply.status) + (detail.empty() ? "" : ": ") +
                          Scrub(detail);
    switch (reply.status) {
      case 401:
      case 403:
        return PermissionDeniedError(message + " (is the API key right?)");
      case 404:
        return NotFoundError(message + " (check the URL and the model name)");
      case 429:
        return ResourceExhaustedError(message);
      default:
        if (reply.status >= 500) return UnavailableError(message);
        return InvalidArgumentError(message);
    }
  }

  // The server's own error text: OpenAI's {"error": {"message"}}, TEI's {"error": "..."}, or the
  // raw body.
  static std::string ErrorMessageOf(const std::string& body) {
    StatusOr<json::Value> doc = json::Parse(body, {.max_depth = 16, .max_size = 1 << 20});
    if (doc.ok() && doc->is_object()) {
      if (const json::Value* e = doc->Find("error")) {
        if (e->is_string()) return e->as_string();
        if (e->is_object() && !e->GetString("message").empty()) {
          return std::string(e->GetString("message"));
        }
      }
      if (!doc->GetString("message").empty()) return std::string(doc->GetString("message"));
    }
    std::string raw = body.substr(0, kMaxQuotedError);
    for (char& c : raw) {
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    }
    return ValidUtf8(raw);
  }

  Status Malformed(const std::string& why) const {
    return UnavailableError("remote embedder: malformed answer from " + endpoint_ + ": " + why);
  }

  Status ParseAnswer(const std::string& text, size_t n,
                     std::vector<std::vector<float>>* out) const {
    StatusOr<json::Value> doc = json::Parse(text, {.max_depth = 16, .max_size = kMaxAnswerBytes});
    if (!doc.ok()) return Malformed(doc.status().message());
    const json::Value* data = doc->is_object() ? doc->Find("data") : nullptr;
    if (data == nullptr || !data->is_array()) return Malformed("no \"data\" array");
    const json::Array& items = data->as_array();
    if (items.size() != n) {
      return Malformed(std::to_string(items.size()) + " embeddings for " + std::to_string(n) +
                       " inputs");
    }
    std::vector<std::vector<float>> result(n);
    std::vector<bool> seen(n, false);
    for (size_t pos = 0; pos < n; ++pos) {
      const json::Value& item = items[pos];
      if (!item.is_object()) return Malformed("data[" + std::to_string(pos) + "] is not an object");
      size_t index = pos;
      if (const json::Value* idx = item.Find("index")) {
        const double d = idx->is_number() ? idx->as_number() : -1;
        if (d < 0 || d >= static_cast<double>(n) || d != std::floor(d)) {
          return Malformed("data[" + std::to_string(pos) + "].index is not in [0, " +
                           std::to_string(n) + ")");
        }
        index = static_cast<size_t>(d);
      }
      if (seen[index]) return Malformed("index " + std::to_string(index) + " appears twice");
      seen[index] = true;
      const json::Value* emb = item.Find("embedding");
      if (emb == nullptr) return Malformed("data[" + std::to_string(pos) + "] has no embedding");
      DEJA_RETURN_IF_ERROR(DecodeVector(*emb, pos, &result[index]));
    }
    const int got = static_cast<int>(result[0].size());
    for (const std::vector<float>& v : result) {
      if (static_cast<int>(v.size()) != got) return Malformed("embeddings of different lengths");
    }
    int expected = dims_.load(std::memory_order_acquire);
    if (expected == 0 && dims_.compare_exchange_strong(expected, got)) expected = got;
    if (got != expected) {
      return FailedPreconditionError("remote embedder: " + endpoint_ + " answered " +
                                     std::to_string(got) + "-dimensional vectors, expected " +
                                     std::to_string(expected) + " (model \"" + options_.model +
                                     "\")");
    }
    for (std::vector<float>& v : result) L2Normalize(&v);
    *out = std::move(result);
    return Status::Ok();
  }

  Status DecodeVector(const json::Value& emb, size_t pos, std::vector<float>* out) const {
    const std::string where = "data[" + std::to_string(pos) + "].embedding";
    if (emb.is_array()) {
      out->reserve(emb.as_array().size());
      for (const json::Value& x : emb.as_array()) {
        if (!x.is_number()) return Malformed(where + " holds a non-number");
        out->push_back(static_cast<float>(x.as_number()));
      }
    } else if (emb.is_string()) {  // encoding_format "base64": little-endian float32.
      std::string bytes;
      if (!DecodeBase64(emb.as_string(), &bytes) || bytes.size() % 4 != 0) {
        return Malformed(where + " is not base64 float32 data");
      }
      out->resize(bytes.size() / 4);
      std::memcpy(out->data(), bytes.data(), bytes.size());
    } else {
      return Malformed(where + " is neither an array nor a base64 string");
    }
    if (out->empty()) return Malformed(where + " is empty");
    for (float x : *out) {
      if (!std::isfinite(x)) return Malformed(where + " holds a non-finite value");
    }
    return Status::Ok();
  }

  // Removes the API key from text that may echo it (an error message quoting the request).
  std::string Scrub(std::string text) const {
    if (options_.api_key.size() < 4) return text;
    for (size_t at; (at = text.find(options_.api_key)) != std::string::npos;) {
      text.replace(at, options_.api_key.size(), "***");
    }
    return text;
  }

  const RemoteEmbedderOptions options_;
  const std::string endpoint_;
  std::shared_ptr<EmbeddingTransport> transport_;
  std::shared_ptr<CircuitBreaker> breaker_;
  mutable std::atomic<int> dims_;
};

}  // namespace

std::string EmbeddingsUrl(std::string_view base_url) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  std::string url(base_url);
  if (base_url.size() >= 3 && base_url.substr(base_url.size() - 3) == "/v1") {
    return url + "/embeddings";
  }
  return url + "/v1/embeddings";
}

std::unique_ptr<Embedder> NewRemoteEmbedder(RemoteEmbedderOptions options,
                                            std::shared_ptr<EmbeddingTransport> transport,
                                            std::shared_ptr<CircuitBreaker> breaker) {
  return std::make_unique<RemoteEmbedder>(std::move(options), std::move(transport),
                                          std::move(breaker));
}

}  // namespace deja::semantic
