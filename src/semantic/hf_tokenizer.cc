#include "semantic/hf_tokenizer.h"

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <utility>
#include <variant>

#include "core/json.h"
#include "semantic/bert_text.h"
#include "semantic/model_dir.h"
#include "semantic/text.h"
#include "semantic/tokenizer_models.h"

namespace deja::semantic {
namespace {

Status UnimplementedError(std::string what) {
  return Status(StatusCode::kUnimplemented, what + " is not supported");
}

// ---- Normalizers: each rewrites a UTF-8 string.

struct LowercaseNorm {};
struct StripAccentsNorm {};
struct UnicodeNorm {
  UnicodeForm form;
};
struct ReplaceNorm {
  std::string pattern;  // Empty with whitespace_regex: the Regex "\s+".
  bool whitespace_regex = false;
  std::string content;
};
struct StripNorm {
  bool left = true, right = true;
};
using NormStep = std::variant<BertNormalizerOptions, LowercaseNorm, StripAccentsNorm, UnicodeNorm,
                              ReplaceNorm, StripNorm>;

std::string ApplyReplace(std::string_view in, const ReplaceNorm& r) {
  std::string out;
  out.reserve(in.size() + 16);
  if (!r.whitespace_regex) {
    if (r.pattern.empty()) return std::string(in);
    for (size_t i = 0; i < in.size();) {
      if (in.compare(i, r.pattern.size(), r.pattern) == 0) {
        out += r.content;
        i += r.pattern.size();
      } else {
        out.push_back(in[i++]);
      }
    }
    return out;
  }
  for (size_t i = 0; i < in.size();) {
    size_t j = i;
    const char32_t cp = DecodeUtf8(in, &j);
    if (!IsWhitespace(cp)) {
      out.append(in.substr(i, j - i));
      i = j;
      continue;
    }
    while (j < in.size()) {  // Swallow the whole run.
      size_t k = j;
      if (!IsWhitespace(DecodeUtf8(in, &k))) break;
      j = k;
    }
    out += r.content;
    i = j;
  }
  return out;
}

std::string ApplyStrip(std::string_view in, const StripNorm& s) {
  size_t begin = 0, end = in.size();
  if (s.left) {
    while (begin < end) {
      size_t j = begin;
      if (!IsWhitespace(DecodeUtf8(in, &j))) break;
      begin = j;
    }
  }
  if (s.right) {
    while (end > begin) {
      size_t start = end - 1;  // Back up to the lead byte of the last character.
      while (start > begin && (static_cast<unsigned char>(in[start]) & 0xC0) == 0x80) --start;
      size_t j = start;
      if (!IsWhitespace(DecodeUtf8(in, &j))) break;
      end = start;
    }
  }
  return std::string(in.substr(begin, end - begin));
}

// ---- Pre-tokenizers: each splits every piece into smaller pieces.

struct BertPre {};
struct WhitespaceSplitPre {};
struct MetaspacePre {
  std::string replacement = "\xE2\x96\x81";  // U+2581
  enum { kAlways, kFirst, kNever } prepend = kAlways;
  bool split = true;
};
using PreStep = std::variant<BertPre, WhitespaceSplitPre, MetaspacePre>;

void SplitBert(std::string_view s, bool isolate_punct, std::vector<std::string>* out) {
  std::string cur;
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    const char32_t cp = DecodeUtf8(s, &i);
    if (IsWhitespace(cp) || (isolate_punct && IsBertPunctuation(cp))) {
      if (!cur.empty()) out->push_back(std::move(cur));
      cur.clear();
      if (!IsWhitespace(cp)) out->emplace_back(s.substr(at, i - at));
    } else {
      cur.append(s.substr(at, i - at));
    }
  }
  if (!cur.empty()) out->push_back(std::move(cur));
}

void SplitMetaspace(std::string_view s, const MetaspacePre& m, bool first_segment,
                    std::vector<std::string>* out) {
  std::string t;
  for (char c : s) {
    if (c == ' ') {
      t += m.replacement;
    } else {
      t.push_back(c);
    }
  }
  const bool prepend =
      m.prepend == MetaspacePre::kAlways || (m.prepend == MetaspacePre::kFirst && first_segment);
  if (prepend && t.compare(0, m.replacement.size(), m.replacement) != 0) t = m.replacement + t;
  if (!m.split) {
    if (!t.empty()) out->push_back(std::move(t));
    return;
  }
  // Split before each replacement character, which stays with the word that follows it.
  size_t begin = 0;
  for (size_t pos = t.find(m.replacement, 1); pos != std::string::npos;
       pos = t.find(m.replacement, pos + 1)) {
    out->push_back(t.substr(begin, pos - begin));
    begin = pos;
  }
  if (begin < t.size()) out->push_back(t.substr(begin));
}

// ---- The tokenizer.

class HfTokenizer final : public Tokenizer {
 public:
  void Encode(std::string_view text, std::vector<uint32_t>* ids) const override {
    // Split out added tokens (raw-text match), then normalize, pre-tokenize and model the rest.
    size_t plain_start = 0;
    bool first_segment = true;
    for (size_t i = 0; i < text.size();) {
      size_t best_len = 0;
      uint32_t best_id = 0;
      for (const auto& [content, id] : added_) {
        if (content.size() > best_len && text.compare(i, content.size(), content) == 0) {
          best_len = content.size();
          best_id = id;
        }
      }
      if (best_len == 0) {
        ++i;
        continue;
      }
      EncodePlain(text.substr(plain_start, i - plain_start), first_segment, ids);
      ids->push_back(best_id);
      first_segment = false;
      i += best_len;
      plain_start = i;
    }
    EncodePlain(text.substr(plain_start), first_segment, ids);
  }

  const std::vector<std::string>& tokens() const override { return tokens_; }
  std::optional<uint32_t> TokenToId(std::string_view token) const override {
    auto it = token_ids_.find(std::string(token));
    if (it == token_ids_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<uint32_t> unk_id() const override { return unk_id_; }

  Status Init(const json::Value& doc);

 private:
  void EncodePlain(std::string_view text, bool first_segment, std::vector<uint32_t>* ids) const {
    if (text.empty()) return;
    std::string s(text);
    for (const NormStep& step : norm_) {
      if (const auto* b = std::get_if<BertNormalizerOptions>(&step)) {
        s = BertNormalize(s, *b);
      } else if (std::holds_alternative<LowercaseNorm>(step)) {
        s = LowercaseFull(s);
      } else if (std::holds_alternative<StripAccentsNorm>(step)) {
        s = RemoveCombiningMarks(s);
      } else if (const auto* u = std::get_if<UnicodeNorm>(&step)) {
        s = UnicodeNormalize(s, u->form);
      } else if (const auto* r = std::get_if<ReplaceNorm>(&step)) {
        s = ApplyReplace(s, *r);
      } else {
        s = ApplyStrip(s, std::get<StripNorm>(step));
      }
    }
    std::vector<std::string> pieces{std::move(s)}, next;
    for (const PreStep& step : pre_) {
      next.clear();
      for (const std::string& p : pieces) {
        if (const auto* m = std::get_if<MetaspacePre>(&step)) {
          SplitMetaspace(p, *m, first_segment, &next);
        } else {
          SplitBert(p, std::holds_alternative<BertPre>(step), &next);
        }
      }
      pieces.swap(next);
    }
    for (const std::string& p : pieces) {
      if (p.empty()) continue;
      if (wordpiece_) {
        wordpiece_->Tokenize(p, ids);
      } else {
        unigram_->Tokenize(p, ids);
      }
    }
  }

  Status ParseNormalizer(const json::Value& n);
  Status ParsePreTokenizer(const json::Value& p);
  Status ParseModel(const json::Value& m);

  std::vector<NormStep> norm_;
  std::vector<PreStep> pre_;
  std::unique_ptr<WordPieceModel> wordpiece_;
  std::unique_ptr<UnigramModel> unigram_;
  std::vector<std::pair<std::string, uint32_t>> added_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, uint32_t> token_ids_;
  std::optional<uint32_t> unk_id_;
};

bool BoolField(const json::Value& v, std::string_view key, bool fallback) {
  const json::Value* f = v.Find(key);
  return f != nullptr && f->is_bool() ? f->as_bool() : fallback;
}

Status HfTokenizer::ParseNormalizer(const json::Value& n) {
  if (n.is_null()) return Status::Ok();
  const std::string type(n.GetString("type"));
  if (type == "Sequence") {
    const json::Value* list = n.Find("normalizers");
    if (list == nullptr || !list->is_array()) return DataLossError("Sequence without normalizers");
    for (const json::Value& child : list->as_array()) DEJA_RETURN_IF_ERROR(ParseNormalizer(child));
  } else if (type == "BertNormalizer") {
    BertNormalizerOptions b;
    b.clean_text = BoolField(n, "clean_text", true);
    b.handle_chinese_chars = BoolField(n, "handle_chinese_chars", true);
    b.lowercase = BoolField(n, "lowercase", true);
    b.strip_accents = BoolField(n, "strip_accents", b.lowercase);  // null: follows lowercase.
    norm_.emplace_back(b);
  } else if (type == "Lowercase") {
    norm_.emplace_back(LowercaseNorm{});
  } else if (type == "StripAccents") {
    norm_.emplace_back(StripAccentsNorm{});
  } else if (type == "NFC") {
    norm_.emplace_back(UnicodeNorm{UnicodeForm::kNfc});
  } else if (type == "NFD") {
    norm_.emplace_back(UnicodeNorm{UnicodeForm::kNfd});
  } else if (type == "NFKC") {
    norm_.emplace_back(UnicodeNorm{UnicodeForm::kNfkc});
  } else if (type == "NFKD") {
    norm_.emplace_back(UnicodeNorm{UnicodeForm::kNfkd});
  } else if (type == "Strip") {
    norm_.emplace_back(
        StripNorm{BoolField(n, "strip_left", true), BoolField(n, "strip_right", true)});
  } else if (type == "Replace") {
    const json::Value* pattern = n.Find("pattern");
    ReplaceNorm r;
    r.content = std::string(n.GetString("content"));
    if (pattern != nullptr && pattern->Find("String") != nullptr) {
      r.pattern = std::string(pattern->GetString("String"));
    } else if (pattern != nullptr && pattern->GetString("Regex") == "\\s+") {
      r.whitespace_regex = true;
    } else {
      return UnimplementedError("Replace normalizer with a regular expression other than \\s+");
    }
    norm_.emplace_back(std::move(r));
  } else {
    return UnimplementedError("normalizer type \"" + type + "\"");
  }
  return Status::Ok();
}

Status HfTokenizer::ParsePreTokenizer(const json::Value& p) {
  if (p.is_null()) return Status::Ok();
  const std::string type(p.GetString("type"));
  if (type == "Sequence") {
    const json::Value* list = p.Find("pretokenizers");
    if (list == nullptr || !list->is_array())
      return DataLossError("Sequence without pretokenizers");
    for (const json::Value& c : list->as_array()) DEJA_RETURN_IF_ERROR(ParsePreTokenizer(c));
  } else if (type == "BertPreTokenizer") {
    pre_.emplace_back(BertPre{});
  } else if (type == "WhitespaceSplit") {
    pre_.emplace_back(WhitespaceSplitPre{});
  } else if (type == "Metaspace") {
    MetaspacePre m;
    if (std::string_view r = p.GetString("replacement"); !r.empty()) m.replacement = r;
    const std::string_view scheme = p.GetString("prepend_scheme");
    if (scheme == "first") {
      m.prepend = MetaspacePre::kFirst;
    } else if (scheme == "never" || (scheme.empty() && !BoolField(p, "add_prefix_space", true))) {
      m.prepend = MetaspacePre::kNever;
    }
    m.split = BoolField(p, "split", true);
    pre_.emplace_back(std::move(m));
  } else {
    return UnimplementedError("pre_tokenizer type \"" + type + "\"");
  }
  return Status::Ok();
}

Status HfTokenizer::ParseModel(const json::Value& m) {
  const std::string type(m.GetString("type"));
  const json::Value* vocab = m.Find("vocab");
  if (vocab == nullptr) return DataLossError("model has no vocab");
  auto note = [&](const std::string& token, uint32_t id) {
    if (tokens_.size() <= id) tokens_.resize(id + 1);
    tokens_[id] = token;
    token_ids_.emplace(token, id);
  };
  if (type == "WordPiece") {
    if (!vocab->is_object()) return DataLossError("WordPiece vocab is not an object");
    std::vector<std::pair<std::string, uint32_t>> entries;
    for (const json::Member& e : vocab->as_object()) {
      if (!e.second.is_number() || e.second.as_number() < 0 || e.second.as_number() > 1e8) {
        return DataLossError("WordPiece vocab id of \"" + e.first + "\" is not a valid id");
      }
      entries.emplace_back(e.first, static_cast<uint32_t>(e.second.as_number()));
      note(e.first, entries.back().second);
    }
    const std::string unk(m.GetString("unk_token", "[UNK]"));
    auto it = token_ids_.find(unk);
    if (it == token_ids_.end())
      return DataLossError("unk_token \"" + unk + "\" is not in the vocab");
    unk_id_ = it->second;
    const json::Value* max_chars = m.Find("max_input_chars_per_word");
    wordpiece_ = std::make_unique<WordPieceModel>(
        entries, *unk_id_, std::string(m.GetString("continuing_subword_prefix", "##")),
        max_chars != nullptr && max_chars->is_number() ? static_cast<size_t>(max_chars->as_number())
                                                       : 100);
  } else if (type == "Unigram") {
    if (!vocab->is_array()) return DataLossError("Unigram vocab is not an array");
    if (BoolField(m, "byte_fallback", false)) return UnimplementedError("Unigram byte_fallback");
    std::vector<std::pair<std::string, double>> pieces;
    for (const json::Value& e : vocab->as_array()) {
      if (!e.is_array() || e.as_array().size() != 2 || !e.as_array()[0].is_string() ||
          !e.as_array()[1].is_number()) {
        return DataLossError("Unigram vocab entries must be [piece, score]");
      }
      pieces.emplace_back(e.as_array()[0].as_string(), e.as_array()[1].as_number());
      note(pieces.back().first, static_cast<uint32_t>(pieces.size() - 1));
    }
    const json::Value* unk = m.Find("unk_id");
    if (unk == nullptr || !unk->is_number() || unk->as_number() < 0 ||
        unk->as_number() >= static_cast<double>(pieces.size())) {
      return UnimplementedError("Unigram model without a valid unk_id");
    }
    unk_id_ = static_cast<uint32_t>(unk->as_number());
    unigram_ = std::make_unique<UnigramModel>(pieces, *unk_id_);
  } else {
    return UnimplementedError("tokenizer model type \"" + type + "\"");
  }
  return Status::Ok();
}

Status HfTokenizer::Init(const json::Value& doc) {
  if (!doc.is_object()) return DataLossError("tokenizer.json is not a JSON object");
  const json::Value* model = doc.Find("model");
  if (model == nullptr || !model->is_object()) return DataLossError("tokenizer.json has no model");
  DEJA_RETURN_IF_ERROR(ParseModel(*model));
  if (const json::Value* n = doc.Find("normalizer")) DEJA_RETURN_IF_ERROR(ParseNormalizer(*n));
  if (const json::Value* p = doc.Find("pre_tokenizer")) DEJA_RETURN_IF_ERROR(ParsePreTokenizer(*p));
  if (const json::Value* added = doc.Find("added_tokens"); added != nullptr && added->is_array()) {
    for (const json::Value& a : added->as_array()) {
      const json::Value* id = a.Find("id");
      const std::string content(a.GetString("content"));
      if (id == nullptr || !id->is_number() || content.empty()) continue;
      const auto tid = static_cast<uint32_t>(id->as_number());
      added_.emplace_back(content, tid);
      if (tokens_.size() <= tid) tokens_.resize(tid + 1);
      tokens_[tid] = content;
      token_ids_.emplace(content, tid);
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view json_text) {
  json::ParseOptions options;
  options.max_size = 256u << 20;  // Multilingual vocabularies run to tens of MB.
  StatusOr<json::Value> doc = json::Parse(json_text, options);
  if (!doc.ok()) return DataLossError("tokenizer.json: " + doc.status().message());
  return FromJsonValue(*doc);
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJsonValue(const json::Value& doc) {
  auto tok = std::make_unique<HfTokenizer>();
  Status s = tok->Init(doc);
  if (!s.ok()) return Status(s.code(), "tokenizer.json: " + s.message());
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  DEJA_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  StatusOr<std::unique_ptr<Tokenizer>> tok = FromJson(text);
  if (!tok.ok()) return Status(tok.status().code(), path + ": " + tok.status().message());
  return tok;
}

}  // namespace deja::semantic
