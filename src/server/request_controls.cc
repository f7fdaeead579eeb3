#include "server/request_controls.h"

#include <charconv>

namespace deja::server {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseSeconds(std::string_view text, int64_t* out) {
  text = Trim(text);
  if (text.empty() || text.size() > 12) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && *out >= 0;
}

Status ParseCacheControl(std::string_view value, RequestControls* c) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view directive = Trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (directive.empty()) continue;
    size_t eq = directive.find('=');
    std::string_view name = Trim(directive.substr(0, eq));
    if (HeaderNameEquals(name, "no-cache")) {
      c->no_cache = true;
    } else if (HeaderNameEquals(name, "no-store")) {
      c->no_store = true;
    } else if (HeaderNameEquals(name, "max-age")) {
      if (eq == std::string_view::npos || !ParseSeconds(directive.substr(eq + 1), &c->max_age_s)) {
        return InvalidArgumentError("Cache-Control max-age must be a whole number of seconds");
      }
    }
    // Other directives (e.g. no-transform) do not concern a cache of API answers; ignored.
  }
  return Status::Ok();
}

}  // namespace

StatusOr<RequestControls> ParseRequestControls(const Headers& headers) {
  RequestControls c;
  for (const auto& [name, value] : headers) {
    if (HeaderNameEquals(name, "cache-control")) {
      DEJA_RETURN_IF_ERROR(ParseCacheControl(value, &c));
    } else if (HeaderNameEquals(name, "x-deja-ttl")) {
      if (!ParseSeconds(value, &c.ttl_s)) {
        return InvalidArgumentError("X-Deja-TTL must be a whole number of seconds");
      }
    } else if (HeaderNameEquals(name, "x-deja-namespace")) {
      std::string_view ns = Trim(value);
      if (ns.size() > 128) return InvalidArgumentError("X-Deja-Namespace is longer than 128 bytes");
      for (char ch : ns) {
        if (static_cast<unsigned char>(ch) < 0x21 || static_cast<unsigned char>(ch) > 0x7e) {
          return InvalidArgumentError("X-Deja-Namespace must be printable ASCII without spaces");
        }
      }
      c.name_space = std::string(ns);
    } else if (HeaderNameEquals(name, "x-deja-similarity")) {
      std::string_view v = Trim(value);
      double d = -1;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
      if (v.empty() || ec != std::errc() || end != v.data() + v.size() || !(d >= 0 && d <= 1)) {
        return InvalidArgumentError("X-Deja-Similarity must be a number between 0 and 1");
      }
      c.similarity = d;
    } else if (HeaderNameEquals(name, "x-deja-cache")) {
      std::string_view v = Trim(value);
      if (HeaderNameEquals(v, "off") || HeaderNameEquals(v, "bypass")) {
        c.off = true;
      } else if (!HeaderNameEquals(v, "on")) {
        return InvalidArgumentError("X-Deja-Cache must be \"off\" or \"on\"");
      }
    }
  }
  return c;
}

bool IsConsumedRequestHeader(std::string_view name) {
  if (name.size() >= 7 && HeaderNameEquals(name.substr(0, 7), "x-deja-")) return true;
  static constexpr std::string_view kConsumed[] = {"cache-control",
                                                   "connection",
                                                   "keep-alive",
                                                   "proxy-connection",
                                                   "transfer-encoding",
                                                   "te",
                                                   "trailer",
                                                   "upgrade",
                                                   "proxy-authorization",
                                                   "host",
                                                   "content-length",
                                                   "accept-encoding",
                                                   "expect"};
  for (std::string_view c : kConsumed) {
    if (HeaderNameEquals(name, c)) return true;
  }
  return false;
}

}  // namespace deja::server
