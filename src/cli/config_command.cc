// `deja config check FILE` and `deja config show [FILE]`.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/config.h"

namespace deja::cli {

namespace {

struct ConfigFlags {
  std::string file;
  std::vector<std::string> settings;
};

int RunCheck(const ConfigFlags& f) {
  GatewayOptions options;
  Status st = ApplyConfigFile(f.file, &options);
  if (st.ok()) st = options.Validate();
  if (!st.ok()) {
    std::fprintf(stderr, "deja config check: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("%s: ok\n", f.file.c_str());
  return 0;
}

int RunShow(const ConfigFlags& f) {
  StatusOr<GatewayOptions> options = ResolveOptions(f.file, f.settings);
  if (!options.ok()) {
    std::fprintf(stderr, "deja config show: %s\n", options.status().message().c_str());
    return 1;
  }
  std::fputs(DescribeOptions(*options).c_str(), stdout);
  return 0;
}

}  // namespace

void RegisterConfigCommand(CLI::App& app, Runner* run) {
  auto f = std::make_shared<ConfigFlags>();
  CLI::App* cmd = app.add_subcommand("config", "Validate or show gateway configuration");
  cmd->require_subcommand(1);
  CLI::App* check = cmd->add_subcommand("check", "Validate a TOML config file");
  check->add_option("file", f->file, "Config file")->required();
  check->callback([run, f] { *run = [f] { return RunCheck(*f); }; });
  CLI::App* show = cmd->add_subcommand(
      "show", "Print the effective options (defaults < file < DEJA_* environment < --set)");
  show->add_option("file", f->file, "Config file (optional)");
  show->add_option("--set", f->settings, "SECTION.KEY=VALUE (repeatable)");
  show->callback([run, f] { *run = [f] { return RunShow(*f); }; });
}

}  // namespace deja::cli
