#include "semantic/embedder.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "core/blake3.h"
#include "semantic/bert_embedder.h"
#include "semantic/circuit_breaker.h"
#include "semantic/distance.h"
#include "semantic/embedding_transport.h"
#include "semantic/lexical_embedder.h"
#include "semantic/remote_embedder.h"
#include "semantic/static_embedder.h"
#include "semantic/words_embedder.h"

namespace deja::semantic {
namespace {

// A bounded LRU memo in front of another embedder. Sharded so that concurrent callers rarely
// contend on one mutex; each shard is an independent LRU of capacity/kShards entries.
// Keys are 128 bits of BLAKE3 of the text rather than the text itself, so a memo of long prompts
// costs no more than one of short ones; a collision (probability ~2^-64 at 2^32 entries) would
// serve another text's vector, which the cache's own verification step tolerates.
//
// Thread safety: Embed may be called concurrently. Two threads missing on the same text at once
// both compute it (the results are identical); after that it is served from the memo.
class MemoEmbedder final : public Embedder {
 public:
  MemoEmbedder(std::unique_ptr<Embedder> inner, size_t entries)
      : inner_(std::move(inner)), per_shard_((entries + kShards - 1) / kShards) {}

  std::string_view name() const override { return inner_->name(); }
  int dimensions() const override { return inner_->dimensions(); }
  std::optional<CircuitBreaker::Counters> BreakerCounters() const override {
    return inner_->BreakerCounters();
  }

  Status Embed(std::string_view text, std::vector<float>* out) const override {
    const Key key = KeyOf(text);
    if (Lookup(key, out)) return Status::Ok();
    DEJA_RETURN_IF_ERROR(inner_->Embed(text, out));
    Insert(key, *out);
    return Status::Ok();
  }

  // Memo hits are answered here; the misses go to the inner embedder in one EmbedBatch (each
  // distinct text once), so a remote embedder sends them in one request.
  Status EmbedBatch(std::span<const std::string_view> texts,
                    std::vector<std::vector<float>>* out) const override {
    std::vector<std::vector<float>> result(texts.size());
    std::vector<Key> keys(texts.size());
    std::vector<std::string_view> misses;
    std::vector<std::vector<size_t>> miss_slots;  // Per miss: the positions it fills.
    std::unordered_map<Key, size_t, KeyHash> miss_of;
    for (size_t i = 0; i < texts.size(); ++i) {
      keys[i] = KeyOf(texts[i]);
      if (Lookup(keys[i], &result[i])) continue;
      auto [it, added] = miss_of.emplace(keys[i], misses.size());
      if (added) {
        misses.push_back(texts[i]);
        miss_slots.emplace_back();
      }
      miss_slots[it->second].push_back(i);
    }
    if (!misses.empty()) {
      std::vector<std::vector<float>> computed;
      DEJA_RETURN_IF_ERROR(inner_->EmbedBatch(misses, &computed));
      for (size_t m = 0; m < misses.size(); ++m) {
        for (size_t slot : miss_slots[m]) result[slot] = computed[m];
        Insert(keys[miss_slots[m][0]], std::move(computed[m]));
      }
    }
    *out = std::move(result);
    return Status::Ok();
  }

 private:
  static constexpr size_t kShards = 16;

  struct Key {
    uint64_t lo, hi;
    friend bool operator==(const Key& a, const Key& b) { return a.lo == b.lo && a.hi == b.hi; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.hi); }
  };
  using Lru = std::list<std::pair<Key, std::vector<float>>>;
  struct Shard {
    std::mutex mu;
    Lru lru;  // Most recently used first.
    std::unordered_map<Key, Lru::iterator, KeyHash> index;
  };

  bool Lookup(const Key& key, std::vector<float>* out) const {
    Shard& shard = shards_[key.lo % kShards];
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.index.find(key);
    if (it == shard.index.end()) return false;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    *out = it->second->second;
    return true;
  }

  void Insert(const Key& key, std::vector<float> v) const {
    Shard& shard = shards_[key.lo % kShards];
    std::lock_guard<std::mutex> lock(shard.mu);
    if (shard.index.count(key) != 0) return;  // Another thread got there first.
    shard.lru.emplace_front(key, std::move(v));
    shard.index.emplace(key, shard.lru.begin());
    if (shard.lru.size() > per_shard_) {
      shard.index.erase(shard.lru.back().first);
      shard.lru.pop_back();
    }
  }

  static Key KeyOf(std::string_view text) {
    Blake3 h;
    h.Update(text);
    uint8_t digest[16];
    h.Finalize(digest, sizeof(digest));
    Key k;
    std::memcpy(&k.lo, digest, 8);
    std::memcpy(&k.hi, digest + 8, 8);
    return k;
  }

  std::unique_ptr<Embedder> inner_;
  size_t per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace

Status Embedder::EmbedBatch(std::span<const std::string_view> texts,
                            std::vector<std::vector<float>>* out) const {
  out->resize(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) DEJA_RETURN_IF_ERROR(Embed(texts[i], &(*out)[i]));
  return Status::Ok();
}

Status EmbedderOptions::Validate() const {
  if (kind != "lexical" && kind != "static" && kind != "words" && kind != "remote" &&
      kind != "bert") {
    return InvalidArgumentError("unknown embedder \"" + kind +
                                "\" (expected lexical, static, words, bert or remote)");
  }
  if (kind == "remote") {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return InvalidArgumentError(
          "the remote embedder needs the endpoint's base URL (http:// or https://), got \"" + url +
          "\"");
    }
    if (model.empty()) {
      return InvalidArgumentError("the remote embedder needs a model name");
    }
    if (remote_dimensions < 0 || remote_dimensions > 65536) {
      return InvalidArgumentError("remote embedder dimensions must be in [0, 65536], got " +
                                  std::to_string(remote_dimensions));
    }
    if (timeout_ms < 1 || timeout_ms > 600000) {
      return InvalidArgumentError("remote embedder timeout_ms must be in [1, 600000], got " +
                                  std::to_string(timeout_ms));
    }
    if (batch_size < 1 || batch_size > 2048) {
      return InvalidArgumentError("remote embedder batch_size must be in [1, 2048], got " +
                                  std::to_string(batch_size));
    }
    if (transport == nullptr) {
      return InvalidArgumentError("the remote embedder needs an HTTP transport");
    }
  }
  if (kind == "lexical" && (dimensions < 64 || dimensions > 65536)) {
    return InvalidArgumentError("lexical embedder dimensions must be in [64, 65536], got " +
                                std::to_string(dimensions));
  }
  if ((kind == "static" || kind == "words" || kind == "bert") && model_dir.empty()) {
    return InvalidArgumentError(
        kind != "words" ? "the " + kind + " embedder needs a model directory (model_dir)"
                        : std::string("the words embedder needs a word-vector file (model_dir); "
                                      "scripts/fetch-word-vectors.sh makes one"));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Embedder>> MakeEmbedder(const EmbedderOptions& options) {
  DEJA_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Embedder> e;
  if (options.kind == "lexical") {
    e = NewLexicalEmbedder(options.dimensions);
  } else if (options.kind == "static") {
    DEJA_ASSIGN_OR_RETURN(e, LoadStaticEmbedder(options.model_dir));
  } else if (options.kind == "words") {
    DEJA_ASSIGN_OR_RETURN(e, LoadWordsEmbedder(options.model_dir));
  } else if (options.kind == "bert") {
    DEJA_ASSIGN_OR_RETURN(e, LoadBertEmbedder(options.model_dir));
  } else {
    RemoteEmbedderOptions remote;
    remote.url = options.url;
    remote.model = options.model;
    if (!options.api_key_env.empty()) {
      const char* key = std::getenv(options.api_key_env.c_str());
      if (key != nullptr) remote.api_key = key;
    }
    remote.dimensions = options.remote_dimensions;
    remote.timeout_ms = options.timeout_ms;
    remote.batch_size = options.batch_size;
    std::shared_ptr<CircuitBreaker> breaker = options.breaker;
    if (breaker == nullptr) breaker = std::make_shared<CircuitBreaker>();
    e = NewRemoteEmbedder(std::move(remote), options.transport, std::move(breaker));
  }
  if (options.memo_entries == 0) return e;
  return WrapWithMemo(std::move(e), options.memo_entries);
}

std::unique_ptr<Embedder> WrapWithMemo(std::unique_ptr<Embedder> inner, size_t entries) {
  return std::make_unique<MemoEmbedder>(std::move(inner), entries);
}

void L2Normalize(std::vector<float>* v) {
  double sum = 0;
  for (float x : *v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : *v) x *= inv;
}

StatusOr<double> TextSimilarity(const Embedder& embedder, std::string_view a, std::string_view b) {
  std::vector<float> va, vb;
  DEJA_RETURN_IF_ERROR(embedder.Embed(a, &va));
  DEJA_RETURN_IF_ERROR(embedder.Embed(b, &vb));
  if (va.size() != vb.size()) return InternalError("embeddings of different dimensions");
  return std::clamp(static_cast<double>(vindex::DotProduct(va.data(), vb.data(), va.size())), -1.0,
                    1.0);
}

}  // namespace deja::semantic
