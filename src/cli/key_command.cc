// `deja key [--route PATH] FILE|-`: prints the cache key of a request and the normalized canonical
// request it was computed from — the tool for "why did this miss?".
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/config.h"
#include "core/json.h"
#include "core/key.h"
#include "core/normalize.h"
#include "core/route.h"
#include "server/gateway.h"

namespace deja::cli {
namespace {

struct KeyFlags {
  std::string input = "-";
  std::string route = "/v1/chat/completions";
  std::string config;
  std::string data_dir;
  std::string api_key;
  std::string name_space;
  std::vector<std::string> headers;
  std::vector<std::string> ignore_pointers;
  std::vector<std::string> strip_patterns;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "deja key: %s\n", message.c_str());
  return 1;
}

int RunKey(const KeyFlags& flags) {
  Route route = RouteFromPath(flags.route);
  if (route == Route::kOther) return Fail("route " + flags.route + " is not a cached route");
  std::string text, error;
  if (!ReadInput(flags.input, &text, &error)) return Fail(error);
  StatusOr<json::Value> doc = json::Parse(text);
  if (!doc.ok()) return Fail(flags.input + ": " + doc.status().message());

  std::vector<std::pair<std::string, std::string>> headers;
  for (const std::string& h : flags.headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos) return Fail("--header \"" + h + "\" is not NAME: VALUE");
    size_t v = h.find_first_not_of(' ', colon + 1);
    headers.emplace_back(h.substr(0, colon), v == std::string::npos ? "" : h.substr(v));
  }
  // The same rules `deja serve` applies, from the same config sources, plus any given here.
  StatusOr<GatewayOptions> serve = ResolveOptions(flags.config, {});
  if (!serve.ok()) return Fail(serve.status().message());
  NormalizeOptions options;
  options.ignore_pointers = serve->cache.ignore_pointers;
  options.strip_patterns = serve->cache.strip_patterns;
  options.alias_tool_call_ids = serve->cache.alias_tool_call_ids;
  options.ignore_pointers.insert(options.ignore_pointers.end(), flags.ignore_pointers.begin(),
                                 flags.ignore_pointers.end());
  options.strip_patterns.insert(options.strip_patterns.end(), flags.strip_patterns.begin(),
                                flags.strip_patterns.end());
  const std::string data_dir = flags.data_dir.empty() ? serve->store.data_dir : flags.data_dir;
  StatusOr<std::unique_ptr<Normalizer>> normalizer = Normalizer::Create(options);
  if (!normalizer.ok()) return Fail(normalizer.status().message());
  StatusOr<NormalizedRequest> normalized =
      (*normalizer)->Normalize(route, std::move(*doc), headers);
  if (!normalized.ok()) return Fail(normalized.status().message());

  StatusOr<DeploymentSecret> secret = LoadDeploymentSecret(data_dir);
  if (!secret.ok()) return Fail(secret.status().message());
  TenantScope scope = serve->cache.tenant_isolation == "shared"
                          ? ScopeForCredential(*secret, server::kSharedScopeCredential)
                          : ScopeForCredential(*secret, flags.api_key);
  CacheKey key = ComputeKey(scope, flags.name_space, route, *normalized);
  std::printf("%s\n", key.Hex().c_str());
  if (!normalized->keyed_headers.empty()) {
    std::printf("headers: %s\n", normalized->keyed_headers.c_str());
  }
  std::printf("%s\n", normalized->canonical.c_str());
  return 0;
}

}  // namespace

void RegisterKeyCommand(CLI::App& app, Runner* run) {
  auto f = std::make_shared<KeyFlags>();
  CLI::App* cmd = app.add_subcommand(
      "key",
      "Print a request's cache key, then the normalized canonical request it was computed from");
  cmd->add_option("input", f->input, "Request body JSON file, or - for standard input")
      ->capture_default_str();
  cmd->add_option("--route", f->route, "API path the request is sent to")->capture_default_str();
  cmd->add_option("--config", f->config,
                  "The gateway's config file (its normalization rules apply)");
  cmd->add_option("--data-dir", f->data_dir,
                  "Data directory holding the deployment secret (default: the config's)");
  cmd->add_option("--api-key", f->api_key, "The caller's API key (selects the tenant scope)");
  cmd->add_option("--namespace", f->name_space, "Cache namespace (X-Deja-Namespace)");
  cmd->add_option("--header", f->headers, "Request header NAME: VALUE (repeatable)");
  cmd->add_option("--ignore-pointer", f->ignore_pointers, "JSON pointer dropped from the key");
  cmd->add_option("--strip-pattern", f->strip_patterns, "RE2 pattern removed from message text");
  cmd->callback([run, f] { *run = [f] { return RunKey(*f); }; });
}

}  // namespace deja::cli
