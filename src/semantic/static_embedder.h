// The "static" embedder: model2vec static embeddings (https://github.com/MinishLab/model2vec).
//
// A model directory holds tokenizer.json (a Hugging Face tokenizer; see semantic/hf_tokenizer.h for
// the supported subset), model.safetensors (one vector per token) and optionally config.json or
// config_sentence_transformers.json. An embedding is computed as the reference library does:
//   1. cut the text to 512 * median-token-length code points (a cheap pre-truncation),
//   2. tokenize without special tokens, drop unknown tokens, keep the first 512 ids,
//   3. average the tokens' vectors in order, each first multiplied by its weight when the model is
//      vocabulary-quantized (in float32, or float64 with float64 weights, as numpy would),
//   4. L2-normalize.
// Tensors: "embeddings" (or "0", or sentence-transformers' "embedding.weight"), rows x dims, in
// F32, F16, BF16, F64 or I8 (int8 models store no scale; it cancels in step 4).
// Vocabulary-quantized models add "mapping" (token id -> row, I32/I64) and "weights" (per token id,
// any float dtype). The file is memory-mapped and rows are decoded as they are used, so a model
// costs page cache, not heap.
//
// Thread safety: immutable after Load; Embed may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "semantic/embedder.h"

namespace deja::semantic {

// Loads the model in directory `dir`. Errors: NotFound (missing file), DataLoss (malformed
// file), Unimplemented (a tokenizer component or dtype deja does not support).
StatusOr<std::unique_ptr<Embedder>> LoadStaticEmbedder(const std::string& dir);

// The token ids the static embedder of `embedder` pools for `text` (after unknown-token removal
// and truncation). REQUIRES: `embedder` came from LoadStaticEmbedder. For tests.
std::vector<uint32_t> StaticEmbedderTokenIds(const Embedder& embedder, std::string_view text);

}  // namespace deja::semantic
