// The tokenizer of a BERT-family model directory: WordPiece with BERT's normalizer and
// pre-tokenizer (semantic/hf_tokenizer.h does the work), plus the special tokens around a single
// sequence ([CLS] ... [SEP]) and truncation, as Hugging Face's fast tokenizer does with
// add_special_tokens=True, truncation=True, max_length=N.
//
// Two sources give identical ids for the same model:
//   tokenizer.json  the model, normalizer and pre-tokenizer as written; the special tokens from its
//                   post_processor (TemplateProcessing, BertProcessing, RobertaProcessing).
//   vocab.txt       one token per line (id = line number), with tokenizer_config.json (optional)
//                   for do_lower_case (default true), strip_accents (default: as do_lower_case),
//                   tokenize_chinese_chars (default true) and the special tokens' names
//                   (default [UNK] [CLS] [SEP] [PAD] [MASK]). It is turned into the tokenizer.json
//                   that transformers' BertConverter would write and loaded the same way.
//
//   StatusOr<std::unique_ptr<BertTokenizer>> tok = BertTokenizer::LoadDir(model_dir);
//   std::vector<uint32_t> ids;
//   (*tok)->Encode("hello world", 256, &ids);   // [101, 7592, 2088, 102] for bert-base-uncased
//
// Thread safety: immutable after loading; Encode may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "deja/status.h"
#include "semantic/hf_tokenizer.h"

namespace deja::semantic {

class BertTokenizer {
 public:
  // `dir`/tokenizer.json when it exists, else `dir`/vocab.txt (+ tokenizer_config.json).
  // Errors: NotFound (neither file), DataLoss (malformed), Unimplemented (unsupported component).
  static StatusOr<std::unique_ptr<BertTokenizer>> LoadDir(const std::string& dir);
  static StatusOr<std::unique_ptr<BertTokenizer>> FromTokenizerJson(const std::string& path);
  // `config_path` may name a missing file (or be empty): the defaults above apply.
  static StatusOr<std::unique_ptr<BertTokenizer>> FromVocabTxt(const std::string& vocab_path,
                                                               const std::string& config_path);

  // Appends the ids of `text` wrapped in the special tokens, keeping at most `max_tokens` ids in
  // all: content tokens past max_tokens - (number of special tokens) are dropped from the end.
  // REQUIRES: max_tokens >= the number of special tokens.
  void Encode(std::string_view text, size_t max_tokens, std::vector<uint32_t>* ids) const;

  // The tokens before and after the sequence (e.g. [CLS] and [SEP]).
  const std::vector<uint32_t>& prefix_ids() const { return prefix_; }
  const std::vector<uint32_t>& suffix_ids() const { return suffix_; }
  // One past the largest id the tokenizer can produce.
  size_t id_limit() const { return tokenizer_->tokens().size(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  BertTokenizer() = default;

  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<uint32_t> prefix_, suffix_;
};

}  // namespace deja::semantic
