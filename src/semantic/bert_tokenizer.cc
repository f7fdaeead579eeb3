#include "semantic/bert_tokenizer.h"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <utility>

#include "core/json.h"
#include "semantic/model_dir.h"
#include "semantic/text.h"

namespace deja::semantic {
namespace {

// Texts longer than this many code points are first tokenized from a prefix (see Encode).
constexpr size_t kMinPrefixCodePoints = 2048;

// A special token's name in tokenizer_config.json: a string, or an AddedToken {"content": ...}.
std::string TokenName(const json::Value& config, std::string_view key, std::string_view fallback) {
  const json::Value* v = config.Find(key);
  if (v == nullptr) return std::string(fallback);
  if (v->is_string()) return v->as_string();
  if (v->is_object()) return std::string(v->GetString("content", fallback));
  return std::string(fallback);
}

std::optional<bool> OptionalBool(const json::Value& config, std::string_view key) {
  const json::Value* v = config.Find(key);
  if (v == nullptr || !v->is_bool()) return std::nullopt;
  return v->as_bool();
}

std::optional<uint32_t> IdOf(const json::Value& v) {
  if (!v.is_number() || v.as_number() < 0 || v.as_number() > 1e9) return std::nullopt;
  return static_cast<uint32_t>(v.as_number());
}

// Reads the special tokens around a single sequence from a post_processor. Returns false when it
// sets none (a processor that adds no tokens, or an unknown kind).
Status ReadPostProcessor(const json::Value& p, std::vector<uint32_t>* prefix,
                         std::vector<uint32_t>* suffix, bool* found) {
  const std::string_view type = p.GetString("type");
  if (type == "Sequence") {
    const json::Value* list = p.Find("processors");
    if (list != nullptr && list->is_array()) {
      for (const json::Value& c : list->as_array()) {
        DEJA_RETURN_IF_ERROR(ReadPostProcessor(c, prefix, suffix, found));
      }
    }
    return Status::Ok();
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    const json::Value* cls = p.Find("cls");
    const json::Value* sep = p.Find("sep");
    std::optional<uint32_t> cls_id, sep_id;
    if (cls != nullptr && cls->is_array() && cls->as_array().size() == 2) {
      cls_id = IdOf(cls->as_array()[1]);
    }
    if (sep != nullptr && sep->is_array() && sep->as_array().size() == 2) {
      sep_id = IdOf(sep->as_array()[1]);
    }
    if (!cls_id || !sep_id) return DataLossError(std::string(type) + " without cls/sep ids");
    *prefix = {*cls_id};
    *suffix = {*sep_id};
    *found = true;
    return Status::Ok();
  }
  if (type == "TemplateProcessing") {
    const json::Value* single = p.Find("single");
    const json::Value* specials = p.Find("special_tokens");
    if (single == nullptr || !single->is_array()) {
      return DataLossError("TemplateProcessing without a single template");
    }
    std::vector<uint32_t> before, after;
    bool seen_sequence = false;
    for (const json::Value& piece : single->as_array()) {
      if (piece.Find("Sequence") != nullptr) {
        seen_sequence = true;
        continue;
      }
      const json::Value* special = piece.Find("SpecialToken");
      if (special == nullptr) return DataLossError("TemplateProcessing: unknown template piece");
      const std::string_view name = special->GetString("id");
      const json::Value* entry = specials != nullptr ? specials->Find(name) : nullptr;
      const json::Value* ids = entry != nullptr ? entry->Find("ids") : nullptr;
      if (ids == nullptr || !ids->is_array()) {
        return DataLossError("TemplateProcessing: special token \"" + std::string(name) +
                             "\" has no ids");
      }
      for (const json::Value& id : ids->as_array()) {
        std::optional<uint32_t> v = IdOf(id);
        if (!v) return DataLossError("TemplateProcessing: bad id for " + std::string(name));
        (seen_sequence ? after : before).push_back(*v);
      }
    }
    *prefix = std::move(before);
    *suffix = std::move(after);
    *found = true;
    return Status::Ok();
  }
  return Status::Ok();  // ByteLevel and the like add no tokens.
}

}  // namespace

StatusOr<std::unique_ptr<BertTokenizer>> BertTokenizer::LoadDir(const std::string& dir) {
  if (FileExists(dir + "/tokenizer.json")) return FromTokenizerJson(dir + "/tokenizer.json");
  if (FileExists(dir + "/vocab.txt")) {
    return FromVocabTxt(dir + "/vocab.txt", dir + "/tokenizer_config.json");
  }
  return NotFoundError(dir + ": neither tokenizer.json nor vocab.txt found");
}

StatusOr<std::unique_ptr<BertTokenizer>> BertTokenizer::FromTokenizerJson(const std::string& path) {
  DEJA_ASSIGN_OR_RETURN(json::Value doc, ReadJsonFile(path));
  auto tok = std::unique_ptr<BertTokenizer>(new BertTokenizer());
  StatusOr<std::unique_ptr<Tokenizer>> inner = Tokenizer::FromJsonValue(doc);
  if (!inner.ok()) return Status(inner.status().code(), path + ": " + inner.status().message());
  tok->tokenizer_ = std::move(*inner);
  bool found = false;
  if (const json::Value* p = doc.Find("post_processor"); p != nullptr && p->is_object()) {
    Status s = ReadPostProcessor(*p, &tok->prefix_, &tok->suffix_, &found);
    if (!s.ok()) return Status(s.code(), path + ": post_processor: " + s.message());
  }
  if (!found) {  // No post_processor: BERT's defaults, when the vocabulary has them.
    const std::optional<uint32_t> cls = tok->tokenizer_->TokenToId("[CLS]");
    const std::optional<uint32_t> sep = tok->tokenizer_->TokenToId("[SEP]");
    if (cls && sep) {
      tok->prefix_ = {*cls};
      tok->suffix_ = {*sep};
    }
  }
  const size_t limit = tok->id_limit();
  for (uint32_t id : tok->prefix_) {
    if (id >= limit) return DataLossError(path + ": special token id out of the vocabulary");
  }
  for (uint32_t id : tok->suffix_) {
    if (id >= limit) return DataLossError(path + ": special token id out of the vocabulary");
  }
  return tok;
}

StatusOr<std::unique_ptr<BertTokenizer>> BertTokenizer::FromVocabTxt(
    const std::string& vocab_path, const std::string& config_path) {
  DEJA_ASSIGN_OR_RETURN(std::string text, ReadTextFile(vocab_path));
  json::Value config = json::Value::MakeObject();
  if (!config_path.empty() && FileExists(config_path)) {
    DEJA_ASSIGN_OR_RETURN(config, ReadJsonFile(config_path));
    if (!config.is_object()) return DataLossError(config_path + ": not a JSON object");
  }
  // Line number = id; a token seen twice keeps its last line (as the Python vocab dict does).
  std::unordered_map<std::string, uint32_t> vocab;
  uint32_t next_id = 0;
  for (size_t start = 0; start < text.size(); ++next_id) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    vocab[std::string(line)] = next_id;
    start = end + 1;
  }
  if (vocab.empty()) return DataLossError(vocab_path + ": empty vocabulary");

  const bool lowercase = OptionalBool(config, "do_lower_case").value_or(true);
  json::Value normalizer = json::Value::MakeObject();
  normalizer.Set("type", json::Value("BertNormalizer"));
  normalizer.Set("clean_text", json::Value(true));
  normalizer.Set("handle_chinese_chars",
                 json::Value(OptionalBool(config, "tokenize_chinese_chars").value_or(true)));
  normalizer.Set("strip_accents",
                 json::Value(OptionalBool(config, "strip_accents").value_or(lowercase)));
  normalizer.Set("lowercase", json::Value(lowercase));
  json::Value pre = json::Value::MakeObject();
  pre.Set("type", json::Value("BertPreTokenizer"));

  const std::string unk = TokenName(config, "unk_token", "[UNK]");
  const std::string cls = TokenName(config, "cls_token", "[CLS]");
  const std::string sep = TokenName(config, "sep_token", "[SEP]");
  json::Value added = json::Value::MakeArray();
  for (const std::string& name : {TokenName(config, "pad_token", "[PAD]"), unk, cls, sep,
                                  TokenName(config, "mask_token", "[MASK]")}) {
    auto it = vocab.find(name);
    if (it == vocab.end()) continue;
    json::Value a = json::Value::MakeObject();
    a.Set("id", json::Value(static_cast<int64_t>(it->second)));
    a.Set("content", json::Value(name));
    a.Set("special", json::Value(true));
    added.Push(std::move(a));
  }
  json::Object vocab_object;
  vocab_object.reserve(vocab.size());
  for (auto& [token, id] : vocab) {
    vocab_object.emplace_back(token, json::Value(static_cast<int64_t>(id)));
  }
  json::Value model = json::Value::MakeObject();
  model.Set("type", json::Value("WordPiece"));
  model.Set("unk_token", json::Value(unk));
  model.Set("continuing_subword_prefix", json::Value("##"));
  model.Set("max_input_chars_per_word", json::Value(100));
  model.Set("vocab", json::Value(std::move(vocab_object)));
  json::Value doc = json::Value::MakeObject();
  doc.Set("added_tokens", std::move(added));
  doc.Set("normalizer", std::move(normalizer));
  doc.Set("pre_tokenizer", std::move(pre));
  doc.Set("model", std::move(model));

  auto tok = std::unique_ptr<BertTokenizer>(new BertTokenizer());
  StatusOr<std::unique_ptr<Tokenizer>> inner = Tokenizer::FromJsonValue(doc);
  if (!inner.ok()) {
    return Status(inner.status().code(), vocab_path + ": " + inner.status().message());
  }
  tok->tokenizer_ = std::move(*inner);
  auto cls_it = vocab.find(cls);
  auto sep_it = vocab.find(sep);
  if (cls_it == vocab.end() || sep_it == vocab.end()) {
    return DataLossError(vocab_path + ": no " + cls + " or " + sep + " token");
  }
  tok->prefix_ = {cls_it->second};
  tok->suffix_ = {sep_it->second};
  return tok;
}

void BertTokenizer::Encode(std::string_view text, size_t max_tokens,
                           std::vector<uint32_t>* ids) const {
  const size_t specials = prefix_.size() + suffix_.size();
  const size_t max_content = max_tokens > specials ? max_tokens - specials : 0;
  ids->insert(ids->end(), prefix_.begin(), prefix_.end());
  const size_t first = ids->size();
  // Every token covers at least one code point, so a long text's first max_content tokens come
  // from a prefix of it. Tokenize a prefix cut at an ASCII space (so no word is split) and fall
  // back to the whole text only if that prefix yields too few tokens.
  bool done = false;
  const size_t budget = std::max(kMinPrefixCodePoints, 8 * max_tokens);
  if (text.size() > budget) {
    const size_t cut = text.find_first_of(" \n\t", OffsetOfCodePoint(text, budget));
    if (cut != std::string_view::npos) {
      tokenizer_->Encode(text.substr(0, cut), ids);
      if (ids->size() - first > max_content) {
        done = true;
      } else {
        ids->resize(first);
      }
    }
  }
  if (!done) tokenizer_->Encode(text, ids);
  if (ids->size() - first > max_content) ids->resize(first + max_content);
  ids->insert(ids->end(), suffix_.begin(), suffix_.end());
}

}  // namespace deja::semantic
