// A random-weight BERT model directory of all-MiniLM-L6-v2's shape (6 layers, 384 wide, 12 heads,
// 1536 intermediate, 30522-token vocabulary; ~90 MB of float32) for latency benchmarks: pretrained
// weights cannot be downloaded on the development machines, and an encoder's speed does not
// depend on its weights' values. The tokenizer is the real one (shared/testdata/minilm-tokenizer).
// Header-only so every bench binary can use it (each bench/*_bench.cc is its own executable).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace deja::bench {

// Writes a random-weight BERT model directory of all-MiniLM-L6-v2's shape to `dir`, with the
// MiniLM tokenizer files from `tokenizer_dir`. Returns false if those are missing.
inline bool WriteMiniLmShapedModel(const std::string& dir, const std::string& tokenizer_dir) {
  namespace fs = std::filesystem;
  if (!fs::exists(tokenizer_dir + "/tokenizer.json")) return false;
  fs::create_directories(dir + "/1_Pooling");
  fs::copy_file(tokenizer_dir + "/tokenizer.json", dir + "/tokenizer.json",
                fs::copy_options::overwrite_existing);
  const int vocab = 30522, h = 384, layers = 6, inter = 1536, positions = 512;
  std::ofstream(dir + "/config.json")
      << R"({"model_type": "bert", "hidden_act": "gelu", "hidden_size": 384,
             "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536,
             "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 30522,
             "layer_norm_eps": 1e-12})";
  std::ofstream(dir + "/modules.json")
      << R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
             {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])";
  std::ofstream(dir + "/1_Pooling/config.json")
      << R"({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": true})";
  std::ofstream(dir + "/sentence_bert_config.json") << R"({"max_seq_length": 256})";
  std::vector<std::pair<std::string, std::vector<size_t>>> tensors = {
      {"embeddings.word_embeddings.weight", {vocab, h}},
      {"embeddings.position_embeddings.weight", {positions, h}},
      {"embeddings.token_type_embeddings.weight", {2, h}},
      {"embeddings.LayerNorm.weight", {h}},
      {"embeddings.LayerNorm.bias", {h}}};
  for (int l = 0; l < layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value",
                          "attention.output.dense"}) {
      tensors.push_back({p + m + ".weight", {h, h}});
      tensors.push_back({p + m + ".bias", {h}});
    }
    tensors.push_back({p + "intermediate.dense.weight", {inter, h}});
    tensors.push_back({p + "intermediate.dense.bias", {inter}});
    tensors.push_back({p + "output.dense.weight", {h, inter}});
    tensors.push_back({p + "output.dense.bias", {h}});
    for (const char* ln : {"attention.output.LayerNorm", "output.LayerNorm"}) {
      tensors.push_back({p + ln + ".weight", {h}});
      tensors.push_back({p + ln + ".bias", {h}});
    }
  }
  std::string header = "{";
  size_t offset = 0;
  for (const auto& [name, shape] : tensors) {
    size_t n = 1;
    std::string dims;
    for (size_t d : shape) {
      n *= d;
      if (!dims.empty()) dims += ',';
      dims += std::to_string(d);
    }
    header += (header.size() > 1 ? "," : "") +
              ("\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + dims + "],\"data_offsets\":[" +
               std::to_string(offset) + "," + std::to_string(offset + 4 * n) + "]}");
    offset += 4 * n;
  }
  header += "}";
  while (header.size() % 8 != 0) header.push_back(' ');
  std::ofstream out(dir + "/model.safetensors", std::ios::binary);
  const uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-0.08f, 0.08f);
  std::vector<float> buf;
  for (const auto& [name, shape] : tensors) {
    size_t n = 1;
    for (size_t d : shape) n *= d;
    const bool ln_weight = name.find("LayerNorm.weight") != std::string::npos;
    buf.resize(n);
    for (float& x : buf) x = ln_weight ? 1.0f + uniform(rng) : uniform(rng);
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(4 * n));
  }
  return static_cast<bool>(out);
}

}  // namespace deja::bench
