// The "bert" embedder: a BERT-family sentence-transformers model run in process
// (all-MiniLM-L6-v2, bge-small-en-v1.5, e5-small-v2, gte-small and other BertModel checkpoints).
//
// A model directory is what sentence-transformers saves (or a plain Hugging Face BertModel):
//   config.json, model.safetensors      the encoder (semantic/bert_model.h)
//   tokenizer.json or vocab.txt (+ tokenizer_config.json)   the tokenizer
//   (semantic/bert_tokenizer.h) modules.json (optional)             the pipeline: Transformer, then
//   Pooling (its directory's
//                                       config.json, e.g. 1_Pooling/config.json), then optionally
//                                       Normalize. A Dense or other module is Unimplemented.
//   sentence_bert_config.json (optional) max_seq_length, do_lower_case.
// An embedding is computed as SentenceTransformer.encode does for one text:
//   1. (do_lower_case) lower-case the text; tokenize with [CLS]/[SEP], truncated to
//      max_seq_length tokens (default: min(max_position_embeddings, tokenizer_config.json's
//      model_max_length)),
//   2. run the encoder,
//   3. pool the token vectors as the Pooling config says: pooling_mode_cls_token,
//      pooling_mode_max_tokens, pooling_mode_mean_tokens, pooling_mode_mean_sqrt_len_tokens,
//      pooling_mode_lasttoken (several: concatenated in that order); mean when there is no
//      modules.json,
//   4. L2-normalize: always, whether or not a Normalize module is listed, because the Embedder
//      contract returns unit vectors (cosine similarities are unchanged by it).
// A text with no tokens other than [UNK] (empty, whitespace, or only characters the vocabulary
// lacks) embeds to the all-zero vector, as every deja embedder does, rather than to the one vector
// all such texts would share. Models that expect an instruction prefix (e5: "query: ") get the text
// as given: the caller adds the prefix.
//
// Thread safety: immutable after Load; Embed may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "semantic/embedder.h"

namespace deja::semantic {

// Errors: NotFound (missing file), DataLoss (malformed file), Unimplemented (an unsupported
// architecture, activation, pooling mode, module or tokenizer component, named in the message).
StatusOr<std::unique_ptr<Embedder>> LoadBertEmbedder(const std::string& dir);

// The token ids (with special tokens, truncated) the bert embedder `embedder` runs for `text`.
// REQUIRES: `embedder` came from LoadBertEmbedder. For tests.
std::vector<uint32_t> BertEmbedderTokenIds(const Embedder& embedder, std::string_view text);

}  // namespace deja::semantic
