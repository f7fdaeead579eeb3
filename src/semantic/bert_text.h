// Exact Unicode text rules of BERT-style tokenizers, as Hugging Face `tokenizers` implements them
// (BertNormalizer, BertPreTokenizer's punctuation class, the NFC/NFD/NFKC/NFKD, Lowercase and
// StripAccents normalizers), on utf8proc's Unicode database. semantic/hf_tokenizer.cc uses them, so
// the "static" (model2vec) and "bert" embedders tokenize exactly as the reference library does for
// every script, not only Latin (semantic/text.h keeps the cheap approximations the lexical and
// words embedders use).
//
// Inputs are UTF-8; invalid bytes are read as U+FFFD (as semantic/text.h's DecodeUtf8 does), which
// BertNormalizer's clean_text then drops. ASCII-only text takes fast paths.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace deja::semantic {

struct BertNormalizerOptions {
  // Drop NUL, U+FFFD and control/format/unassigned/private-use characters (Unicode category C*,
  // except \t \n \r); map White_Space characters to ' '.
  bool clean_text = true;
  // Put spaces around CJK ideographs, so each becomes its own word.
  bool handle_chinese_chars = true;
  // NFD, then drop non-spacing marks (category Mn): "café" -> "cafe".
  bool strip_accents = true;
  // Full Unicode lower-casing, character by character (U+0130 'İ' -> "i̇").
  bool lowercase = true;
};

// Hugging Face's BertNormalizer: clean_text, handle_chinese_chars, strip_accents, lowercase, in
// that order.
std::string BertNormalize(std::string_view text, const BertNormalizerOptions& options);

enum class UnicodeForm { kNfc, kNfd, kNfkc, kNfkd };
// Unicode normalization form `form` of `text`.
std::string UnicodeNormalize(std::string_view text, UnicodeForm form);

// The Lowercase normalizer: each character's full lower-case mapping.
std::string LowercaseFull(std::string_view text);

// The StripAccents normalizer: drops combining marks (categories Mn, Mc, Me) without decomposing,
// so it only strips accents after an NFD or NFKD step.
std::string RemoveCombiningMarks(std::string_view text);

// BertPreTokenizer's punctuation: any ASCII punctuation or symbol
// (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~) and Unicode punctuation (categories Pc, Pd, Ps, Pe, Pi, Pf,
// Po).
bool IsBertPunctuation(char32_t cp);

// BertNormalizer's control characters: categories Cc, Cf, Cn, Co, Cs except \t, \n and \r.
bool IsBertControl(char32_t cp);

}  // namespace deja::semantic
