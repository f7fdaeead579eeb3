#include "server/absolute_url.h"

#include <vector>

#include "server/url.h"

namespace deja::server {
namespace {

// Removes "." and ".." segments (RFC 3986 section 5.2.4) from an absolute path.
std::string RemoveDotSegments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 1;  // path starts with '/'
  while (i <= path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(i, slash - i);
    const bool last = slash == path.size();
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      if (last) out.push_back("");
    } else if (seg == ".") {
      if (last) out.push_back("");
    } else {
      out.push_back(seg);
    }
    i = slash + 1;
  }
  std::string result;
  for (std::string_view seg : out) {
    result += '/';
    result += seg;
  }
  return result.empty() ? "/" : result;
}

}  // namespace

StatusOr<SplitUrl> SplitAbsoluteUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return InvalidArgumentError("\"" + std::string(url) + "\" is not an absolute http(s) URL");
  }
  if (size_t hash = url.find('#'); hash != std::string_view::npos) url = url.substr(0, hash);
  const size_t path_start = url.find_first_of("/?", scheme_end + 3);
  SplitUrl out;
  out.base = std::string(url.substr(0, path_start));
  if (path_start == std::string_view::npos) {
    out.target = "/";
  } else {
    out.target = std::string(url.substr(path_start));
    if (out.target.front() == '?') out.target.insert(0, "/");
  }
  // The base must be a valid base URL without a path prefix.
  StatusOr<BaseUrl> parsed = ParseBaseUrl(out.base);
  if (!parsed.ok()) return parsed.status();
  return out;
}

std::string ResolveLocation(std::string_view from_url, std::string_view location) {
  location = location.substr(0, location.find('#'));
  if (location.find("://") != std::string_view::npos) return std::string(location);
  const size_t scheme_end = from_url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(location);
  if (location.substr(0, 2) == "//") {
    return std::string(from_url.substr(0, scheme_end + 1)) + std::string(location);
  }
  const size_t path_start = from_url.find_first_of("/?#", scheme_end + 3);
  const std::string origin(from_url.substr(0, path_start));
  std::string_view path = path_start == std::string_view::npos ? "/" : from_url.substr(path_start);
  path = path.substr(0, path.find_first_of("?#"));
  if (path.empty()) path = "/";
  if (location.empty()) return origin + std::string(path);
  if (location.front() == '?') return origin + std::string(path) + std::string(location);
  std::string_view query;
  if (size_t q = location.find('?'); q != std::string_view::npos) {
    query = location.substr(q);
    location = location.substr(0, q);
  }
  std::string merged;
  if (location.front() == '/') {
    merged = std::string(location);
  } else {
    merged = std::string(path.substr(0, path.rfind('/') + 1)) + std::string(location);
  }
  return origin + RemoveDotSegments(merged) + std::string(query);
}

}  // namespace deja::server
