// Absolute URLs for the places where deja holds a whole URL rather than a base URL plus a target:
// the remote embedder's endpoint and redirects followed by `deja models pull`. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "deja/status.h"

namespace deja::server {

struct SplitUrl {
  std::string base;    // "https://host[:port]": what UpstreamRequest::base_url takes
  std::string target;  // "/path?query" ("/" when the URL has no path); the fragment is dropped
};

// Splits an absolute http(s) URL. InvalidArgument for anything else (no scheme, empty host, user
// info).
StatusOr<SplitUrl> SplitAbsoluteUrl(std::string_view url);

// The URL a redirect's Location names, resolved against the URL that answered (RFC 3986 section
// 5.2 for the forms servers send: absolute "https://h/p", scheme-relative "//h/p", absolute path
// "/p", relative path "p" or "../p", query-only "?q").
std::string ResolveLocation(std::string_view from_url, std::string_view location);

}  // namespace deja::server
