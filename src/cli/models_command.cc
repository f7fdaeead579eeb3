// `deja models pull NAME [--dir DEST] [--endpoint URL] [--revision REV] [--include FILE]...`:
// downloads the files deja's embedders read from a Hugging Face model repository into DEST
// (default <data_dir>/models/<NAME with '/' replaced by "--">), for machines that are online.
// The endpoint defaults to $HF_ENDPOINT, else https://huggingface.co; $HF_TOKEN, when set, is sent
// as a bearer token (private and gated models). hub_download.h has the protocol and guarantees.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/config.h"
#include "cli/hub_download.h"

namespace deja::cli {
namespace {

struct PullFlags {
  std::string name;
  std::string dir;
  std::string endpoint;
  std::string revision = "main";
  std::string data_dir;
  std::vector<std::string> include;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "deja models pull: %s\n", message.c_str());
  return 1;
}

std::string DefaultDirName(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '/') {
      out += "--";
    } else {
      out += c;
    }
  }
  return out;
}

int RunPull(const PullFlags& flags) {
  HubPullOptions o;
  o.name = flags.name;
  o.revision = flags.revision;
  o.extra_files = flags.include;
  const char* env_endpoint = std::getenv("HF_ENDPOINT");
  if (!flags.endpoint.empty()) {
    o.endpoint = flags.endpoint;
  } else if (env_endpoint != nullptr && *env_endpoint != '\0') {
    o.endpoint = env_endpoint;
  }
  if (const char* token = std::getenv("HF_TOKEN"); token != nullptr) o.token = token;
  if (!flags.dir.empty()) {
    o.dest = flags.dir;
  } else {
    std::string data_dir = flags.data_dir;
    if (data_dir.empty()) {
      StatusOr<GatewayOptions> serve = ResolveOptions("", {});
      if (!serve.ok()) return Fail(serve.status().message());
      data_dir = serve->store.data_dir;
    }
    o.dest = (std::filesystem::path(data_dir) / "models" / DefaultDirName(flags.name)).string();
  }
  server::UpstreamOptions client_options;
  client_options.read_timeout_ms = 120000;
  StatusOr<std::unique_ptr<server::UpstreamClient>> client =
      server::UpstreamClient::Create(client_options);
  if (!client.ok()) return Fail(client.status().message());
  Status s = PullHubModel(o, **client, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!s.ok()) return Fail(s.message());
  return 0;
}

}  // namespace

void RegisterModelsCommand(CLI::App& app, Runner* run) {
  CLI::App* models = app.add_subcommand("models", "Fetch embedding models");
  models->require_subcommand(1);
  auto f = std::make_shared<PullFlags>();
  CLI::App* pull = models->add_subcommand(
      "pull", "Download a model directory from the Hugging Face hub (only the files deja reads)");
  pull->add_option("name", f->name, "Repository, e.g. minishlab/potion-base-8M")->required();
  pull->add_option("--dir", f->dir,
                   "Destination directory (default: <data_dir>/models/<org>--<model>)");
  pull->add_option("--data-dir", f->data_dir, "Data directory (default: the config's)");
  pull->add_option("--endpoint", f->endpoint,
                   "Hub URL (default: $HF_ENDPOINT, else https://huggingface.co)");
  pull->add_option("--revision", f->revision, "Branch, tag or commit")->capture_default_str();
  pull->add_option("--include", f->include,
                   "Also fetch this repository file (repeatable), e.g. onnx/model.onnx");
  pull->callback([run, f] { *run = [f] { return RunPull(*f); }; });
}

}  // namespace deja::cli
