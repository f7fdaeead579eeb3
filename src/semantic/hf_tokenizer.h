// A Hugging Face `tokenizer.json` tokenizer, the subset model2vec and BERT models use.
//
// Supported (anything else is an Unimplemented error naming the component):
//   added_tokens  matched in the raw text before normalization (leftmost, longest).
//   normalizer    BertNormalizer, Lowercase, StripAccents, NFC, NFD, NFKC, NFKD,
//                 Replace (String pattern, or the Regex "\s+"), Strip, Sequence of these.
//   pre_tokenizer BertPreTokenizer, WhitespaceSplit, Metaspace (prepend_scheme always / first /
//                 never, split true / false), Sequence of these.
//   model         WordPiece (greedy longest-match-first with a continuing-subword prefix),
//                 Unigram (Viterbi over the piece scores, byte_fallback false).
// Unicode handling (character classes, case mapping, normalization forms) is exact, on utf8proc:
// semantic/bert_text.h. post_processor, truncation and padding are not applied here (Encode adds no
// special tokens); semantic/bert_tokenizer.h reads the post_processor for BERT models.
//
//   StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Load(dir + "/tokenizer.json");
//   std::vector<uint32_t> ids;
//   (*tok)->Encode("hello world", &ids);   // no [CLS]/[SEP]: add_special_tokens = false
//
// Thread safety: immutable after Load; Encode may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deja/status.h"

namespace deja::json {
class Value;
}  // namespace deja::json

namespace deja::semantic {

class Tokenizer {
 public:
  static StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  static StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view json_text);
  // From an already parsed tokenizer.json document (or one built in code, as the vocab.txt loader
  // of semantic/bert_tokenizer.h does).
  static StatusOr<std::unique_ptr<Tokenizer>> FromJsonValue(const json::Value& doc);
  virtual ~Tokenizer() = default;

  // Appends the token ids of `text` to *ids (no special tokens added).
  virtual void Encode(std::string_view text, std::vector<uint32_t>* ids) const = 0;

  // The vocabulary (model vocab plus added tokens), indexed by id; ids without a token are "".
  virtual const std::vector<std::string>& tokens() const = 0;
  virtual std::optional<uint32_t> TokenToId(std::string_view token) const = 0;
  // The model's unknown token, when it has one.
  virtual std::optional<uint32_t> unk_id() const = 0;
};

}  // namespace deja::semantic
