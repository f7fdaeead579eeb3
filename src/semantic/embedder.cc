#include "semantic/embedder.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "core/blake3.h"
#include "semantic/lexical_embedder.h"
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

  Status Embed(std::string_view text, std::vector<float>* out) const override {
    const Key key = KeyOf(text);
    Shard& shard = shards_[key.lo % kShards];
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      auto it = shard.index.find(key);
      if (it != shard.index.end()) {
        shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
        *out = it->second->second;
        return Status::Ok();
      }
    }
    DEJA_RETURN_IF_ERROR(inner_->Embed(text, out));
    std::lock_guard<std::mutex> lock(shard.mu);
    if (shard.index.count(key) != 0) return Status::Ok();  // Another thread got there first.
    shard.lru.emplace_front(key, *out);
    shard.index.emplace(key, shard.lru.begin());
    if (shard.lru.size() > per_shard_) {
      shard.index.erase(shard.lru.back().first);
      shard.lru.pop_back();
    }
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

Status EmbedderOptions::Validate() const {
  if (kind != "lexical" && kind != "static" && kind != "words") {
    return InvalidArgumentError("unknown embedder \"" + kind +
                                "\" (expected lexical, static or words)");
  }
  if (kind == "lexical" && (dimensions < 64 || dimensions > 65536)) {
    return InvalidArgumentError("lexical embedder dimensions must be in [64, 65536], got " +
                                std::to_string(dimensions));
  }
  if ((kind == "static" || kind == "words") && model_dir.empty()) {
    return InvalidArgumentError(
        kind == "static" ? std::string("the static embedder needs a model directory (model_dir)")
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
  } else {
    DEJA_ASSIGN_OR_RETURN(e, LoadWordsEmbedder(options.model_dir));
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

}  // namespace deja::semantic
