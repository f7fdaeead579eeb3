// `deja canon FILE|-`: prints the RFC 8785 canonical form of a JSON document.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/json.h"

namespace deja::cli {
namespace {

struct CanonFlags {
  std::string input = "-";
  size_t max_depth = 128;
  size_t max_size = 64u << 20;
};

int RunCanon(const CanonFlags& flags) {
  std::string text, error;
  if (!ReadInput(flags.input, &text, &error)) {
    std::fprintf(stderr, "deja canon: %s\n", error.c_str());
    return 1;
  }
  StatusOr<json::Value> doc =
      json::Parse(text, {.max_depth = flags.max_depth, .max_size = flags.max_size});
  if (!doc.ok()) {
    std::fprintf(stderr, "deja canon: %s: %s\n", flags.input.c_str(),
                 doc.status().message().c_str());
    return 1;
  }
  std::string out = json::WriteCanonical(*doc);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void RegisterCanonCommand(CLI::App& app, Runner* run) {
  auto flags = std::make_shared<CanonFlags>();
  CLI::App* cmd =
      app.add_subcommand("canon", "Print the RFC 8785 canonical form of a JSON document");
  cmd->add_option("input", flags->input, "JSON file, or - for standard input")
      ->capture_default_str();
  cmd->add_option("--max-depth", flags->max_depth, "Deepest nesting accepted")
      ->capture_default_str();
  cmd->add_option("--max-size", flags->max_size, "Largest input accepted, bytes")
      ->capture_default_str();
  cmd->callback([run, flags] { *run = [flags] { return RunCanon(*flags); }; });
}

}  // namespace deja::cli
