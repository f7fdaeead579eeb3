// `deja embed [--embedder lexical|static|words] [--model-dir DIR] [--dimensions N] TEXT|-`: prints
// the embedding of TEXT as a JSON array on standard output, and the embedder and its dimension on
// standard error — the tool for "why did these two prompts (not) match?".
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "semantic/embedder.h"

namespace deja::cli {
namespace {

struct EmbedFlags {
  std::string text;
  std::string embedder = "lexical";
  std::string model_dir;
  int dimensions = 256;
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
  cmd->add_option("--embedder", f->embedder, "lexical, static (model2vec) or words")
      ->check(CLI::IsMember({"lexical", "static", "words"}))
      ->capture_default_str();
  cmd->add_option("--model-dir", f->model_dir,
                  "static: model2vec model directory; words: word-vector file or its directory "
                  "(scripts/fetch-word-vectors.sh makes build/word-vectors)");
  cmd->add_option("--dimensions", f->dimensions, "lexical: hashed dimensions (64..65536)")
      ->capture_default_str();
  cmd->callback([run, f] { *run = [f] { return RunEmbed(*f); }; });
}

}  // namespace deja::cli
