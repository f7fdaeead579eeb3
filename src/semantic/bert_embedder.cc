#include "semantic/bert_embedder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/json.h"
#include "semantic/bert_model.h"
#include "semantic/bert_text.h"
#include "semantic/bert_tokenizer.h"
#include "semantic/model_dir.h"

namespace deja::semantic {
namespace {

Status Unimplemented(std::string m) { return Status(StatusCode::kUnimplemented, std::move(m)); }

// Pooling modes in the order sentence-transformers concatenates them.
struct Pooling {
  bool cls = false, max = false, mean = true, mean_sqrt_len = false, last = false;
  int count() const { return cls + max + mean + mean_sqrt_len + last; }
};

StatusOr<Pooling> ReadPooling(const std::string& path, int hidden) {
  DEJA_ASSIGN_OR_RETURN(json::Value doc, ReadJsonFile(path));
  if (!doc.is_object()) return DataLossError(path + ": not a JSON object");
  auto flag = [&](std::string_view key) {
    const json::Value* v = doc.Find(key);
    return v != nullptr && v->is_bool() && v->as_bool();
  };
  Pooling p;
  p.cls = flag("pooling_mode_cls_token");
  p.max = flag("pooling_mode_max_tokens");
  p.mean = flag("pooling_mode_mean_tokens");
  p.mean_sqrt_len = flag("pooling_mode_mean_sqrt_len_tokens");
  p.last = flag("pooling_mode_lasttoken");
  // Older configs name one mode as a string.
  if (const std::string_view mode = doc.GetString("pooling_mode"); !mode.empty()) {
    p.cls = mode == "cls";
    p.max = mode == "max";
    p.mean = mode == "mean";
    p.mean_sqrt_len = mode == "mean_sqrt_len_tokens";
    p.last = mode == "lasttoken";
    if (p.count() == 0) return Unimplemented(path + ": pooling_mode \"" + std::string(mode) + "\"");
  }
  if (flag("pooling_mode_weightedmean_tokens")) {
    return Unimplemented(path + ": pooling_mode_weightedmean_tokens");
  }
  if (p.count() == 0) return DataLossError(path + ": no pooling mode is set");
  const double dim = NumberField(doc, "word_embedding_dimension", hidden);
  if (dim != hidden) {
    return DataLossError(path + ": word_embedding_dimension " + std::to_string(dim) +
                         " differs from the model's hidden_size " + std::to_string(hidden));
  }
  return p;
}

class BertEmbedder final : public Embedder {
 public:
  std::string_view name() const override { return "bert"; }
  int dimensions() const override { return encoder_->config().hidden_size * pooling_.count(); }

  Status Embed(std::string_view text, std::vector<float>* out) const override {
    const std::vector<uint32_t> ids = TokenIds(text);
    out->assign(static_cast<size_t>(dimensions()), 0.0f);
    const size_t specials = tokenizer_->prefix_ids().size() + tokenizer_->suffix_ids().size();
    const auto unk = tokenizer_->tokenizer().unk_id();
    size_t known = 0;
    for (size_t i = tokenizer_->prefix_ids().size();
         i + tokenizer_->suffix_ids().size() < ids.size(); ++i) {
      known += !(unk.has_value() && ids[i] == *unk);
    }
    if (ids.size() <= specials || known == 0) return Status::Ok();
    std::vector<float> hidden;
    encoder_->Forward(ids, &hidden);
    Pool(hidden, ids.size(), out->data());
    L2Normalize(out);
    return Status::Ok();
  }

  std::vector<uint32_t> TokenIds(std::string_view text) const {
    std::vector<uint32_t> ids;
    if (lowercase_input_) {
      tokenizer_->Encode(LowercaseFull(text), max_tokens_, &ids);
    } else {
      tokenizer_->Encode(text, max_tokens_, &ids);
    }
    return ids;
  }

  Status Init(const std::string& dir);

 private:
  void Pool(const std::vector<float>& hidden, size_t n, float* out) const {
    const size_t h = static_cast<size_t>(encoder_->config().hidden_size);
    if (pooling_.cls) {
      std::copy(hidden.begin(), hidden.begin() + static_cast<std::ptrdiff_t>(h), out);
      out += h;
    }
    if (pooling_.max) {
      std::fill(out, out + h, -std::numeric_limits<float>::infinity());
      for (size_t t = 0; t < n; ++t) {
        for (size_t i = 0; i < h; ++i) out[i] = std::max(out[i], hidden[t * h + i]);
      }
      out += h;
    }
    if (pooling_.mean || pooling_.mean_sqrt_len) {
      std::vector<float> sum(h, 0.0f);
      for (size_t t = 0; t < n; ++t) {
        for (size_t i = 0; i < h; ++i) sum[i] += hidden[t * h + i];
      }
      if (pooling_.mean) {
        for (size_t i = 0; i < h; ++i) out[i] = sum[i] / static_cast<float>(n);
        out += h;
      }
      if (pooling_.mean_sqrt_len) {
        const float root = std::sqrt(static_cast<float>(n));
        for (size_t i = 0; i < h; ++i) out[i] = sum[i] / root;
        out += h;
      }
    }
    if (pooling_.last) std::copy(hidden.end() - static_cast<std::ptrdiff_t>(h), hidden.end(), out);
  }

  std::unique_ptr<BertTokenizer> tokenizer_;
  std::unique_ptr<BertEncoder> encoder_;
  Pooling pooling_;
  size_t max_tokens_ = 512;
  bool lowercase_input_ = false;
};

Status BertEmbedder::Init(const std::string& dir) {
  // modules.json (sentence-transformers): where the transformer lives and how it is pooled.
  std::string model_dir = dir;
  std::string pooling_path;
  if (const std::string modules_path = dir + "/modules.json"; FileExists(modules_path)) {
    DEJA_ASSIGN_OR_RETURN(json::Value modules, ReadJsonFile(modules_path));
    if (!modules.is_array()) return DataLossError(modules_path + ": not a JSON array");
    for (const json::Value& m : modules.as_array()) {
      const std::string_view type = m.GetString("type");
      const std::string path(m.GetString("path"));
      const std::string sub = path.empty() ? dir : dir + "/" + path;
      if (type.ends_with(".Transformer")) {
        model_dir = sub;
      } else if (type.ends_with(".Pooling")) {
        pooling_path = sub + "/config.json";
      } else if (!type.ends_with(".Normalize")) {
        return Unimplemented(modules_path + ": module type \"" + std::string(type) + "\"");
      }
    }
  }
  DEJA_ASSIGN_OR_RETURN(encoder_, BertEncoder::Load(model_dir));
  DEJA_ASSIGN_OR_RETURN(tokenizer_, BertTokenizer::LoadDir(model_dir));
  const BertConfig& config = encoder_->config();
  if (tokenizer_->id_limit() > static_cast<size_t>(config.vocab_size)) {
    return DataLossError(model_dir + ": the tokenizer has " +
                         std::to_string(tokenizer_->id_limit()) + " tokens but the model only " +
                         std::to_string(config.vocab_size) + " embeddings");
  }
  if (!pooling_path.empty()) {
    DEJA_ASSIGN_OR_RETURN(pooling_, ReadPooling(pooling_path, config.hidden_size));
  }

  double max_tokens = config.max_positions;
  if (const std::string p = model_dir + "/tokenizer_config.json"; FileExists(p)) {
    DEJA_ASSIGN_OR_RETURN(json::Value doc, ReadJsonFile(p));
    max_tokens = std::min(max_tokens, NumberField(doc, "model_max_length", max_tokens));
  }
  if (const std::string p = model_dir + "/sentence_bert_config.json"; FileExists(p)) {
    DEJA_ASSIGN_OR_RETURN(json::Value doc, ReadJsonFile(p));
    max_tokens = NumberField(doc, "max_seq_length", max_tokens);
    const json::Value* lower = doc.Find("do_lower_case");
    lowercase_input_ = lower != nullptr && lower->is_bool() && lower->as_bool();
  }
  const size_t specials = tokenizer_->prefix_ids().size() + tokenizer_->suffix_ids().size();
  max_tokens = std::min(max_tokens, static_cast<double>(config.max_positions));
  if (!(max_tokens >= static_cast<double>(specials) + 1)) {
    return DataLossError(dir + ": max_seq_length leaves no room for any token");
  }
  max_tokens_ = static_cast<size_t>(max_tokens);
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Embedder>> LoadBertEmbedder(const std::string& dir) {
  auto e = std::make_unique<BertEmbedder>();
  DEJA_RETURN_IF_ERROR(e->Init(dir));
  return std::unique_ptr<Embedder>(std::move(e));
}

std::vector<uint32_t> BertEmbedderTokenIds(const Embedder& embedder, std::string_view text) {
  const auto* e = dynamic_cast<const BertEmbedder*>(&embedder);
  return e == nullptr ? std::vector<uint32_t>() : e->TokenIds(text);
}

}  // namespace deja::semantic
