// `deja embed [--embedder lexical|static|words|bert|remote] [--model-dir DIR] [--dimensions N]
// [--url URL --model M [--api-key-env VAR] [--timeout-ms N]] TEXT|-`: prints the embedding of TEXT
// as a JSON array on standard output, and the embedder and its dimension on standard error — the
// tool for "why did these two prompts (not) match?".
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "semantic/embedder.h"
#include "server/upstream_embedding_transport.h"

namespace deja::cli {
namespace {

struct EmbedFlags {
  std::string text;
  std::string embedder = "lexical";
  std::string model_dir;
  int dimensions = 256;
  bool dimensions_given = false;
  std::string url, model, api_key_env = "OPENAI_API_KEY";
  int timeout_ms = 10000;
};

int RunEmbed(const EmbedFlags& flags) {
  std::string text = flags.text;
  if (text == "-") {
    std::string error;
    if (!ReadInput("-", &text, &error)) {
      std::fprintf(stderr, "deja embed: %s\n", error.c_str());
      return 1;
    }
  }
  semantic::EmbedderOptions options;
  options.kind = flags.embedder;
  options.model_dir = flags.model_dir;
  options.dimensions = flags.dimensions;
  options.memo_entries = 0;  // One text: nothing to memoize.
  if (flags.embedder == "remote") {
    options.url = flags.url;
    options.model = flags.model;
    options.api_key_env = flags.api_key_env;
    options.timeout_ms = flags.timeout_ms;
    if (flags.dimensions_given) options.remote_dimensions = flags.dimensions;
    options.transport = server::NewUpstreamEmbeddingTransport();
  }
  StatusOr<std::unique_ptr<semantic::Embedder>> embedder = semantic::MakeEmbedder(options);
  if (!embedder.ok()) {
    std::fprintf(stderr, "deja embed: %s\n", embedder.status().ToString().c_str());
    return 1;
  }
  std::vector<float> v;
  if (Status s = (*embedder)->Embed(text, &v); !s.ok()) {
    std::fprintf(stderr, "deja embed: %s\n", s.ToString().c_str());
    return 1;
  }
  std::string out = "[";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    // %.9g round-trips a float exactly.
    std::snprintf(buf, sizeof(buf), "%s%.9g", i == 0 ? "" : ",", static_cast<double>(v[i]));
    out += buf;
  }
  out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fprintf(stderr, "%s: %zu dimensions\n", std::string((*embedder)->name()).c_str(), v.size());
  return 0;
}

}  // namespace

void RegisterEmbedCommand(CLI::App& app, Runner* run) {
  auto f = std::make_shared<EmbedFlags>();
  CLI::App* cmd = app.add_subcommand(
      "embed", "Print the embedding of a text (JSON array on stdout, dimension on stderr)");
  cmd->add_option("text", f->text, "The text, or - for standard input")->required();
  cmd->add_option("--embedder", f->embedder,
                  "lexical, static (model2vec), words, bert (a BERT sentence-transformers model) "
                  "or remote (an OpenAI-compatible endpoint)")
      ->check(CLI::IsMember({"lexical", "static", "words", "bert", "remote"}))
      ->capture_default_str();
  cmd->add_option("--model-dir", f->model_dir,
                  "static: model2vec model directory; bert: sentence-transformers model "
                  "directory; words: word-vector file or its directory "
                  "(scripts/fetch-word-vectors.sh makes build/word-vectors)");
  CLI::Option* dims =
      cmd->add_option("--dimensions", f->dimensions,
                      "lexical: hashed dimensions (64..65536); remote: the dimension expected")
          ->capture_default_str();
  cmd->add_option("--url", f->url,
                  "remote: base URL of the endpoint (POSTs URL/v1/embeddings), e.g. "
                  "http://127.0.0.1:11434 or https://api.openai.com");
  cmd->add_option("--model", f->model, "remote: the model name sent");
  cmd->add_option("--api-key-env", f->api_key_env,
                  "remote: environment variable holding the API key (unset: no key sent)")
      ->capture_default_str();
  cmd->add_option("--timeout-ms", f->timeout_ms, "remote: request timeout")->capture_default_str();
  cmd->callback([run, f, dims] {
    f->dimensions_given = dims->count() > 0;
    *run = [f] { return RunEmbed(*f); };
  });
}

}  // namespace deja::cli
