#include "cli/config.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <variant>

#include <toml++/toml.h>

namespace deja::cli {
namespace {

using StringList = std::vector<std::string>;
// A field of GatewayOptions; `scale` converts the configured unit (e.g. MiB) into the field's unit.
using FieldRef = std::variant<std::string*, int*, int64_t*, bool*, StringList*, double*>;

struct OptionSpec {
  std::string_view section;
  std::string_view key;
  std::function<FieldRef(GatewayOptions&)> field;
  int64_t scale = 1;
};

const std::vector<OptionSpec>& Specs() {
  static const std::vector<OptionSpec> specs = {
      {"server", "listen", [](GatewayOptions& o) -> FieldRef { return &o.server.listen; }},
      {"server", "io_threads", [](GatewayOptions& o) -> FieldRef { return &o.server.io_threads; }},
      {"server", "upstream_threads",
       [](GatewayOptions& o) -> FieldRef { return &o.server.upstream_threads; }},
      {"server", "max_body_bytes",
       [](GatewayOptions& o) -> FieldRef { return &o.server.max_body_bytes; }},
      {"server", "max_header_bytes",
       [](GatewayOptions& o) -> FieldRef { return &o.server.max_header_bytes; }},
      {"server", "max_connections",
       [](GatewayOptions& o) -> FieldRef { return &o.server.max_connections; }},
      {"server", "idle_timeout_ms",
       [](GatewayOptions& o) -> FieldRef { return &o.server.idle_timeout_ms; }},
      {"server", "max_json_depth",
       [](GatewayOptions& o) -> FieldRef { return &o.server.max_json_depth; }},
      {"server", "shutdown_drain_ms",
       [](GatewayOptions& o) -> FieldRef { return &o.server.shutdown_drain_ms; }},
      {"server", "admin_token",
       [](GatewayOptions& o) -> FieldRef { return &o.server.admin_token; }},
      {"server", "access_log", [](GatewayOptions& o) -> FieldRef { return &o.server.access_log; }},
      {"server", "mode", [](GatewayOptions& o) -> FieldRef { return &o.server.mode; }},
      {"server", "shadow_report_interval_s",
       [](GatewayOptions& o) -> FieldRef { return &o.server.shadow_report_interval_s; }},
      {"upstream", "openai", [](GatewayOptions& o) -> FieldRef { return &o.upstreams.openai; }},
      {"upstream", "anthropic",
       [](GatewayOptions& o) -> FieldRef { return &o.upstreams.anthropic; }},
      {"upstream", "connect_timeout_ms",
       [](GatewayOptions& o) -> FieldRef { return &o.upstreams.connect_timeout_ms; }},
      {"upstream", "read_timeout_ms",
       [](GatewayOptions& o) -> FieldRef { return &o.upstreams.read_timeout_ms; }},
      {"upstream", "verify_tls",
       [](GatewayOptions& o) -> FieldRef { return &o.upstreams.verify_tls; }},
      {"upstream", "ca_file", [](GatewayOptions& o) -> FieldRef { return &o.upstreams.ca_file; }},
      {"store", "data_dir", [](GatewayOptions& o) -> FieldRef { return &o.store.data_dir; }},
      {"store", "map_size_mb",
       [](GatewayOptions& o) -> FieldRef { return &o.store.map_size_bytes; }, 1 << 20},
      {"store", "max_size_mb", [](GatewayOptions& o) -> FieldRef { return &o.store.max_bytes; },
       1 << 20},
      {"store", "eviction", [](GatewayOptions& o) -> FieldRef { return &o.store.eviction; }},
      {"store", "sweep_interval_s",
       [](GatewayOptions& o) -> FieldRef { return &o.store.sweep_interval_s; }},
      {"cache", "enabled", [](GatewayOptions& o) -> FieldRef { return &o.cache.enabled; }},
      {"cache", "routes", [](GatewayOptions& o) -> FieldRef { return &o.cache.routes; }},
      {"cache", "models", [](GatewayOptions& o) -> FieldRef { return &o.cache.models; }},
      {"cache", "default_ttl_s",
       [](GatewayOptions& o) -> FieldRef { return &o.cache.default_ttl_s; }},
      {"cache", "cache_nonzero_temperature",
       [](GatewayOptions& o) -> FieldRef { return &o.cache.cache_nonzero_temperature; }},
      {"cache", "tenant_isolation",
       [](GatewayOptions& o) -> FieldRef { return &o.cache.tenant_isolation; }},
      {"cache", "single_flight_wait_ms",
       [](GatewayOptions& o) -> FieldRef { return &o.cache.single_flight_wait_ms; }},
      {"cache", "ignore_pointers",
       [](GatewayOptions& o) -> FieldRef { return &o.cache.ignore_pointers; }},
      {"cache", "strip_patterns",
       [](GatewayOptions& o) -> FieldRef { return &o.cache.strip_patterns; }},
      {"cache", "alias_tool_call_ids",
       [](GatewayOptions& o) -> FieldRef { return &o.cache.alias_tool_call_ids; }},
      {"cassette", "path", [](GatewayOptions& o) -> FieldRef { return &o.cassette.path; }},
      {"cassette", "redact_pointers",
       [](GatewayOptions& o) -> FieldRef { return &o.cassette.redact_pointers; }},
      {"cassette", "used_log", [](GatewayOptions& o) -> FieldRef { return &o.cassette.used_log; }},
      {"semantic", "enabled", [](GatewayOptions& o) -> FieldRef { return &o.semantic.enabled; }},
      {"semantic", "embedder", [](GatewayOptions& o) -> FieldRef { return &o.semantic.embedder; }},
      {"semantic", "model_dir",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.model_dir; }},
      {"semantic", "dimensions",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.dimensions; }},
      {"semantic", "threshold",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.threshold; }},
      {"semantic", "query_turns",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.query_turns; }},
      {"semantic", "max_false_hit_rate",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.max_false_hit_rate; }},
      {"semantic", "false_hit_bound",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.false_hit_bound; }},
      {"semantic", "audit_rate",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.audit_rate; }},
      {"semantic", "verify", [](GatewayOptions& o) -> FieldRef { return &o.semantic.verify; }},
      {"semantic", "answer_similarity",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.answer_similarity; }},
      {"semantic", "templates",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.templates; }},
      {"semantic", "template_fill_values",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.template_fill_values; }},
      {"semantic", "min_admission_score",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.min_admission_score; }},
      {"semantic", "near_duplicate_similarity",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.near_duplicate_similarity; }},
      {"semantic", "hnsw_threshold",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.hnsw_threshold; }},
      {"semantic", "save_interval_s",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.save_interval_s; }},
      {"semantic", "seed", [](GatewayOptions& o) -> FieldRef { return &o.semantic.seed; }},
      {"semantic", "large_index",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.large_index; }},
      {"semantic", "remote_url",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.remote_url; }},
      {"semantic", "remote_model",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.remote_model; }},
      {"semantic", "remote_api_key_env",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.remote_api_key_env; }},
      {"semantic", "remote_timeout_ms",
       [](GatewayOptions& o) -> FieldRef { return &o.semantic.remote_timeout_ms; }},
  };
  return specs;
}

const OptionSpec* FindSpec(std::string_view section, std::string_view key) {
  for (const OptionSpec& s : Specs()) {
    if (s.section == section && s.key == key) return &s;
  }
  return nullptr;
}

std::string Name(const OptionSpec& s) { return std::string(s.section) + "." + std::string(s.key); }

template <typename Int>
Status ParseInt(const OptionSpec& s, std::string_view text, Int* out) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return InvalidArgumentError(Name(s) + " must be a whole number (got \"" + std::string(text) +
                                "\")");
  }
  *out = static_cast<Int>(v * s.scale);
  return Status::Ok();
}

Status SetFromText(const OptionSpec& s, std::string_view text, GatewayOptions* o) {
  FieldRef f = s.field(*o);
  if (auto* str = std::get_if<std::string*>(&f)) {
    **str = std::string(text);
  } else if (auto* i = std::get_if<int*>(&f)) {
    return ParseInt(s, text, *i);
  } else if (auto* l = std::get_if<int64_t*>(&f)) {
    return ParseInt(s, text, *l);
  } else if (auto* b = std::get_if<bool*>(&f)) {
    if (text == "true" || text == "1" || text == "yes") {
      **b = true;
    } else if (text == "false" || text == "0" || text == "no") {
      **b = false;
    } else {
      return InvalidArgumentError(Name(s) + " must be true or false (got \"" + std::string(text) +
                                  "\")");
    }
  } else if (auto* d = std::get_if<double*>(&f)) {
    const std::string copy(text);
    char* end = nullptr;
    const double v = std::strtod(copy.c_str(), &end);
    if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(v)) {
      return InvalidArgumentError(Name(s) + " must be a number (got \"" + copy + "\")");
    }
    **d = v;
  } else if (auto* list = std::get_if<StringList*>(&f)) {
    (*list)->clear();
    while (!text.empty()) {
      size_t comma = text.find(',');
      std::string_view item = text.substr(0, comma);
      if (!item.empty()) (*list)->emplace_back(item);
      text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    }
  }
  return Status::Ok();
}

Status SetFromToml(const OptionSpec& s, const toml::node& node, GatewayOptions* o) {
  FieldRef f = s.field(*o);
  const std::string where = Name(s) + " (line " + std::to_string(node.source().begin.line) + ")";
  if (auto* str = std::get_if<std::string*>(&f)) {
    auto v = node.value<std::string>();
    if (!v) return InvalidArgumentError(where + " must be a string");
    **str = *v;
  } else if (auto* i = std::get_if<int*>(&f)) {
    auto v = node.value<int64_t>();
    if (!v) return InvalidArgumentError(where + " must be an integer");
    **i = static_cast<int>(*v * s.scale);
  } else if (auto* l = std::get_if<int64_t*>(&f)) {
    auto v = node.value<int64_t>();
    if (!v) return InvalidArgumentError(where + " must be an integer");
    **l = *v * s.scale;
  } else if (auto* b = std::get_if<bool*>(&f)) {
    auto v = node.value<bool>();
    if (!v) return InvalidArgumentError(where + " must be true or false");
    **b = *v;
  } else if (auto* d = std::get_if<double*>(&f)) {
    auto v = node.value<double>();
    if (!v) return InvalidArgumentError(where + " must be a number");
    **d = *v;
  } else if (auto* list = std::get_if<StringList*>(&f)) {
    const toml::array* arr = node.as_array();
    if (arr == nullptr) return InvalidArgumentError(where + " must be an array of strings");
    (*list)->clear();
    for (const toml::node& item : *arr) {
      auto v = item.value<std::string>();
      if (!v) return InvalidArgumentError(where + " must be an array of strings");
      (*list)->push_back(*v);
    }
  }
  return Status::Ok();
}

Status ApplyPrices(const toml::table& prices, GatewayOptions* o) {
  for (const auto& [model, node] : prices) {
    const toml::table* t = node.as_table();
    const std::string where = "prices.\"" + std::string(model.str()) + "\"";
    if (t == nullptr) return InvalidArgumentError(where + " must be { input = X, output = Y }");
    ModelPrice p;
    for (const auto& [k, v] : *t) {
      auto d = v.value<double>();
      if (!d) return InvalidArgumentError(where + "." + std::string(k.str()) + " must be a number");
      if (k.str() == "input") {
        p.input_per_mtok = *d;
      } else if (k.str() == "output") {
        p.output_per_mtok = *d;
      } else {
        return InvalidArgumentError(where + ": unknown key \"" + std::string(k.str()) + "\"");
      }
    }
    o->prices[std::string(model.str())] = p;
  }
  return Status::Ok();
}

}  // namespace

Status ApplyConfigFile(const std::string& path, GatewayOptions* options) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return InvalidArgumentError(path + ":" + std::to_string(e.source().begin.line) + ":" +
                                std::to_string(e.source().begin.column) + ": " +
                                std::string(e.description()));
  }
  for (const auto& [section, node] : root) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return InvalidArgumentError(path + ": top-level key \"" + std::string(section.str()) +
                                  "\" must be a [section]");
    }
    if (section.str() == "prices") {
      DEJA_RETURN_IF_ERROR(ApplyPrices(*table, options));
      continue;
    }
    for (const auto& [key, value] : *table) {
      const OptionSpec* spec = FindSpec(section.str(), key.str());
      if (spec == nullptr) {
        return InvalidArgumentError(path + ":" + std::to_string(value.source().begin.line) +
                                    ": unknown option " + std::string(section.str()) + "." +
                                    std::string(key.str()));
      }
      DEJA_RETURN_IF_ERROR(SetFromToml(*spec, value, options));
    }
  }
  return Status::Ok();
}

Status ApplyEnvironment(GatewayOptions* options) {
  for (const OptionSpec& s : Specs()) {
    std::string name = "DEJA_" + std::string(s.section) + "_" + std::string(s.key);
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (const char* v = std::getenv(name.c_str()); v != nullptr) {
      Status st = SetFromText(s, v, options);
      if (!st.ok()) return InvalidArgumentError(name + ": " + st.message());
    }
  }
  return Status::Ok();
}

Status ApplySetting(std::string_view dotted_key, std::string_view value, GatewayOptions* options) {
  size_t dot = dotted_key.find('.');
  const OptionSpec* spec = dot == std::string_view::npos
                               ? nullptr
                               : FindSpec(dotted_key.substr(0, dot), dotted_key.substr(dot + 1));
  if (spec == nullptr) {
    return InvalidArgumentError("unknown option \"" + std::string(dotted_key) +
                                "\" (see `deja config show` for the list)");
  }
  return SetFromText(*spec, value, options);
}

std::string DescribeOptions(const GatewayOptions& options) {
  GatewayOptions copy = options;
  std::string out;
  for (const OptionSpec& s : Specs()) {
    out += Name(s);
    out += " = ";
    FieldRef f = s.field(copy);
    if (auto* str = std::get_if<std::string*>(&f)) {
      out += s.key == "admin_token" && !(*str)->empty() ? "\"<set>\"" : "\"" + **str + "\"";
    } else if (auto* i = std::get_if<int*>(&f)) {
      out += std::to_string(**i / s.scale);
    } else if (auto* l = std::get_if<int64_t*>(&f)) {
      out += std::to_string(**l / s.scale);
    } else if (auto* b = std::get_if<bool*>(&f)) {
      out += **b ? "true" : "false";
    } else if (auto* d = std::get_if<double*>(&f)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", **d);
      out += buf;
    } else if (auto* list = std::get_if<StringList*>(&f)) {
      out += "[";
      for (size_t i = 0; i < (*list)->size(); ++i) {
        out += (i ? ", \"" : "\"") + (**list)[i] + "\"";
      }
      out += "]";
    }
    out += "\n";
  }
  for (const auto& [model, p] : options.prices) {
    out += "prices.\"" + model + "\" = { input = " + std::to_string(p.input_per_mtok) +
           ", output = " + std::to_string(p.output_per_mtok) + " }\n";
  }
  return out;
}

}  // namespace deja::cli
