// Flags shared by the `deja cassette` subcommands (cassette_command.cc, cassette_transfer.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace deja::cli {

struct CassetteFlags {
  std::string cassette;                      // the cassette file every subcommand works on
  std::string key;                           // show
  std::string other;                         // diff
  std::vector<std::string> used_logs;        // prune
  bool dry_run = false;                      // prune
  std::string data_dir = "./deja-data";      // import, export
  std::string api_key;                       // import, export: the tenant of the data dir
  bool shared = false;                       // import, export: tenant_isolation = "shared"
  std::vector<std::string> headers;          // import: keyed header candidates
  std::vector<std::string> redact_pointers;  // import
};

// Adds `import` and `export` under `cassette` (cassette_transfer.cc).
void RegisterCassetteTransfer(CLI::App* cassette, std::shared_ptr<CassetteFlags> flags,
                              Runner* run);

}  // namespace deja::cli
