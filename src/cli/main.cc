#include <cstdio>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"deja: a caching gateway for LLM APIs (OpenAI and Anthropic wire formats)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "deja 0.1.0");
  deja::cli::Runner run;
  deja::cli::RegisterCanonCommand(app, &run);
  deja::cli::RegisterKeyCommand(app, &run);
  deja::cli::RegisterStoreCommand(app, &run);
  deja::cli::RegisterServeCommand(app, &run);
  deja::cli::RegisterConfigCommand(app, &run);
  deja::cli::RegisterEmbedCommand(app, &run);
  deja::cli::RegisterModelsCommand(app, &run);
  deja::cli::RegisterAnalyzeCommand(app, &run);
  deja::cli::RegisterCassetteCommand(app, &run);
  deja::cli::RegisterReplayCommand(app, &run);
  deja::cli::RegisterEvalCommand(app, &run);
  CLI11_PARSE(app, argc, argv);
  if (!run) {
    std::fputs(app.help().c_str(), stderr);
    return 2;
  }
  return run();
}
