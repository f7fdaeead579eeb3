// Subcommands of the `deja` binary. Each Register* function adds one subcommand to `app`; when that
// subcommand is chosen on the command line, `*run` is set to its action, which main() then calls
// and whose result is the process exit status. Flags are parsed here and mapped into Options
// structs; no library code reads flags.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace deja::cli {

using Runner = std::function<int()>;

void RegisterCanonCommand(CLI::App& app, Runner* run);    // canon_command.cc
void RegisterKeyCommand(CLI::App& app, Runner* run);      // key_command.cc
void RegisterStoreCommand(CLI::App& app, Runner* run);    // store_command.cc
void RegisterServeCommand(CLI::App& app, Runner* run);    // serve_command.cc
void RegisterConfigCommand(CLI::App& app, Runner* run);   // config_command.cc
void RegisterEmbedCommand(CLI::App& app, Runner* run);    // embed_command.cc
void RegisterAnalyzeCommand(CLI::App& app, Runner* run);  // analyze_command.cc

// Test-mode cassettes: ls, show, diff, prune (cassette_command.cc), import, export
// (cassette_transfer.cc).
void RegisterCassetteCommand(CLI::App& app, Runner* run);
// `deja models pull`: fetch a model directory from the Hugging Face hub (models_command.cc).
void RegisterModelsCommand(CLI::App& app, Runner* run);
// `deja replay`: re-ask a cassette's requests, report changed answers (replay_command.cc).
void RegisterReplayCommand(CLI::App& app, Runner* run);
// `deja eval semantic`: hit and false-hit rates of the semantic cache on labelled pairs
// (eval_command.cc).
void RegisterEvalCommand(CLI::App& app, Runner* run);

// Reads a whole file, or standard input when `path` is "-". Returns false (with `*error` set) on
// failure.
bool ReadInput(const std::string& path, std::string* out, std::string* error);

}  // namespace deja::cli
