#!/usr/bin/python3
"""Writes src/semantic/testdata/bert-tiny: a tiny random-weight BERT sentence-transformers model
and the reference embeddings the C++ "bert" embedder must reproduce (to 1e-4).

Pretrained weights cannot be downloaded on deja's machines, so the runtime is proven numerically:
this script builds a BERT with the real architecture (Hugging Face BertModel semantics, written out
in plain PyTorch because `transformers` is not installed) and random weights, tokenizes a set of
tricky texts with an independent Python implementation of BERT's tokenizer (unicodedata, not
utf8proc), runs them as one padded batch with an attention mask (as SentenceTransformer.encode
does) in float64, and pools them.

Usage (Debian's python3-torch; /usr/bin/python3, not a pyenv one without torch):
  /usr/bin/python3 scripts/make_bert_fixture.py [--vocab ../shared/testdata/minilm-tokenizer/vocab.txt]

The vocabulary is the slice of all-MiniLM-L6-v2's vocab.txt that the texts use, plus the special
tokens, re-numbered from 0. Output (about 100 KB): config.json, model.safetensors (word embeddings
F16, the rest F32; written by hand: u64 LE header length, JSON header, raw little-endian data),
vocab.txt, tokenizer.json, tokenizer_config.json, sentence_bert_config.json (max_seq_length 24),
modules.json, 1_Pooling/config.json (mean) and reference.json.
"""
import argparse
import json
import math
import os
import struct
import unicodedata

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HIDDEN, LAYERS, HEADS, INTERMEDIATE, MAX_POSITIONS = 32, 2, 4, 64, 64
MAX_SEQ_LENGTH = 24
EPS = 1e-12

TEXTS = [
    "Hello world",
    "How do I reverse a list in Python?",
    "Café crème, naïve résumé \u2014 déjà vu!",
    "unaffable UNAFFABLE Unaffable",
    "北京是中国的首都。",
    "emoji \U0001F642 and tab\tnew\nline " + "a" * 101,
    "price: $3.50 (approx.) - 20% off!!!",
    "zero\u200bwidth control\x07char",
    "a",
    "The quick brown fox jumps over the lazy dog, and the dog does not mind at all; "
    "then the fox runs back into the forest before the farmer wakes up.",
]


# ---- BERT's tokenizer (Hugging Face BertNormalizer + BertPreTokenizer + WordPiece), in Python.

def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def is_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def normalize(text):
    out = []
    for c in text:
        if ord(c) == 0 or ord(c) == 0xFFFD:
            continue
        if c not in "\t\n\r" and unicodedata.category(c).startswith("C"):
            continue
        if c.isspace():
            c = " "
        out.append(f" {c} " if is_cjk(ord(c)) else c)
    s = unicodedata.normalize("NFD", "".join(out))
    s = "".join(c for c in s if unicodedata.category(c) != "Mn")
    return "".join(c.lower() for c in s)


def pre_tokenize(text):
    words = []
    for chunk in text.split():
        cur = ""
        for c in chunk:
            if is_punct(c):
                if cur:
                    words.append(cur)
                cur = ""
                words.append(c)
            else:
                cur += c
        if cur:
            words.append(cur)
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


def tokenize(text, vocab):
    return [p for w in pre_tokenize(normalize(text)) for p in wordpiece(w, vocab)]


# ---- The model, Hugging Face BertModel semantics.

def layer_norm(x, g, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * g + b


def gelu(x, form):
    if form == "erf":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(w, ids, mask, act):
    batch, length = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids]
    x = x + w["embeddings.position_embeddings.weight"][:length][None]
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    d = HIDDEN // HEADS
    bias = (1.0 - mask[:, None, None, :]) * torch.finfo(x.dtype).min

    def linear(t, name):
        return t @ w[name + ".weight"].T + w[name + ".bias"]

    def heads(t):
        return t.view(batch, length, HEADS, d).transpose(1, 2)

    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        q = heads(linear(x, p + "attention.self.query"))
        k = heads(linear(x, p + "attention.self.key"))
        v = heads(linear(x, p + "attention.self.value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(batch, length, HIDDEN)
        x = layer_norm(linear(ctx, p + "attention.output.dense") + x,
                       w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"])
        mid = gelu(linear(x, p + "intermediate.dense"), act)
        x = layer_norm(linear(mid, p + "output.dense") + x, w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"])
    return x


def pool(x, mask, mode):
    m = mask[:, :, None]
    if mode == "mean":
        v = (x * m).sum(1) / m.sum(1)
    elif mode == "cls":
        v = x[:, 0]
    else:  # max
        v = x.masked_fill(m == 0, -1e9).max(1).values
    return v / v.norm(dim=-1, keepdim=True)


def random_weights(vocab_size, gen):
    def normal(*shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * std + mean

    w = {
        "embeddings.word_embeddings.weight": normal(vocab_size, HIDDEN),
        "embeddings.position_embeddings.weight": normal(MAX_POSITIONS, HIDDEN, std=0.5),
        "embeddings.token_type_embeddings.weight": normal(2, HIDDEN, std=0.5),
        "embeddings.LayerNorm.weight": normal(HIDDEN, std=0.1, mean=1.0),
        "embeddings.LayerNorm.bias": normal(HIDDEN, std=0.1),
    }
    shapes = {"attention.self.query": (HIDDEN, HIDDEN), "attention.self.key": (HIDDEN, HIDDEN),
              "attention.self.value": (HIDDEN, HIDDEN), "attention.output.dense": (HIDDEN, HIDDEN),
              "intermediate.dense": (INTERMEDIATE, HIDDEN), "output.dense": (HIDDEN, INTERMEDIATE)}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name, (rows, cols) in shapes.items():
            # Query and key a little larger than 1/sqrt(fan_in), so attention is far from uniform.
            gain = 1.5 if name in ("attention.self.query", "attention.self.key") else 1.0
            w[p + name + ".weight"] = normal(rows, cols, std=gain / math.sqrt(cols))
            w[p + name + ".bias"] = normal(rows, std=0.1)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + ln + ".weight"] = normal(HIDDEN, std=0.1, mean=1.0)
            w[p + ln + ".bias"] = normal(HIDDEN, std=0.1)
    # Round to what the file stores (F16 word embeddings, F32 elsewhere), so the reference is
    # exactly the function of the stored weights.
    for name, t in w.items():
        dtype = torch.float16 if name == "embeddings.word_embeddings.weight" else torch.float32
        w[name] = t.to(dtype).to(torch.float64)
    return w


def write_safetensors(path, w):
    header, blobs, offset = {}, [], 0
    for name in sorted(w):
        dtype = torch.float16 if name == "embeddings.word_embeddings.weight" else torch.float32
        data = w[name].to(dtype).contiguous().numpy().astype("<f2" if dtype == torch.float16
                                                               else "<f4").tobytes()
        header[name] = {"dtype": "F16" if dtype == torch.float16 else "F32",
                        "shape": list(w[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def tokenizer_json(vocab):
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True} for t in SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]}
                               for t in ("[CLS]", "[SEP]")}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab", default=os.path.join(
        REPO, "..", "shared", "testdata", "minilm-tokenizer", "vocab.txt"))
    parser.add_argument("--out", default=os.path.join(REPO, "src", "semantic", "testdata",
                                                      "bert-tiny"))
    args = parser.parse_args()

    with open(args.vocab, encoding="utf-8") as f:
        full = {line.rstrip("\n"): i for i, line in enumerate(f)}
    used = {p for t in TEXTS for p in tokenize(t, full)} - set(SPECIALS)
    tokens = SPECIALS + sorted(used, key=lambda t: full[t])
    vocab = {t: i for i, t in enumerate(tokens)}

    gen = torch.Generator().manual_seed(20240611)
    w = random_weights(len(tokens), gen)

    refs = []
    for text in TEXTS:
        pieces = tokenize(text, vocab)[:MAX_SEQ_LENGTH - 2]
        pieces = ["[CLS]"] + pieces + ["[SEP]"]
        refs.append({"text": text, "tokens": pieces, "ids": [vocab[p] for p in pieces]})
    length = max(len(r["ids"]) for r in refs)
    ids = torch.tensor([r["ids"] + [0] * (length - len(r["ids"])) for r in refs])
    mask = torch.tensor([[1.0] * len(r["ids"]) + [0.0] * (length - len(r["ids"])) for r in refs],
                        dtype=torch.float64)
    outputs = {"erf": forward(w, ids, mask, "erf"), "tanh": forward(w, ids, mask, "tanh")}
    variants = {"mean": ("erf", "mean"), "cls": ("erf", "cls"), "max": ("erf", "max"),
                "mean_gelu_tanh": ("tanh", "mean")}
    pooled = {k: pool(outputs[act], mask, mode) for k, (act, mode) in variants.items()}
    for i, r in enumerate(refs):
        r["embeddings"] = {k: [float(f"{x:.8g}") for x in v[i].tolist()] for k, v in pooled.items()}

    out = args.out
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(out, "config.json"), {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE, "max_position_embeddings": MAX_POSITIONS,
        "type_vocab_size": 2, "vocab_size": len(tokens), "layer_norm_eps": EPS,
        "position_embedding_type": "absolute", "pad_token_id": 0})
    write_safetensors(os.path.join(out, "model.safetensors"), w)
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))
    write_json(os.path.join(out, "tokenizer.json"), tokenizer_json(vocab), indent=None)
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "do_lower_case": True, "strip_accents": None, "tokenize_chinese_chars": True,
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": "[MASK]", "model_max_length": MAX_POSITIONS,
        "tokenizer_class": "BertTokenizer"})
    write_json(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    write_json(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"}])
    write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True})
    write_json(os.path.join(out, "reference.json"), {
        "comment": "made by scripts/make_bert_fixture.py; embeddings are L2-normalized, pooled "
                   "from a padded float64 batch; 'mean' is what the fixture's modules.json says",
        "max_seq_length": MAX_SEQ_LENGTH, "texts": refs}, indent=1)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"wrote {out}: {len(tokens)} tokens, {total} bytes")


if __name__ == "__main__":
    main()
