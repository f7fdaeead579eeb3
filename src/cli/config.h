// Configuration of `deja serve`: one table of every option, read from a TOML file (deja.toml),
// environment variables (DEJA_<SECTION>_<KEY>, e.g. DEJA_SERVER_LISTEN) and flags
// (`--set section.key=value`, plus shorthands such as --listen). Later sources override earlier
// ones: defaults < file < environment < flags.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "deja/gateway_options.h"
#include "deja/status.h"

namespace deja::cli {

// Applies a TOML file. Unknown sections or keys are errors (a typo must not silently do nothing).
Status ApplyConfigFile(const std::string& path, GatewayOptions* options);
// Applies DEJA_<SECTION>_<KEY> variables from the process environment.
Status ApplyEnvironment(GatewayOptions* options);
// Applies one "section.key" setting given as text (lists: comma-separated).
Status ApplySetting(std::string_view dotted_key, std::string_view value, GatewayOptions* options);
// The effective options: defaults < config file (`config_flag`, else $DEJA_CONFIG, else ./deja.toml
// when present) < DEJA_* environment < `settings` ("section.key=value").
StatusOr<GatewayOptions> ResolveOptions(const std::string& config_flag,
                                        const std::vector<std::string>& settings);

// Every option as "section.key" with its current value, one per line (for `deja config show`).
std::string DescribeOptions(const GatewayOptions& options);

}  // namespace deja::cli
