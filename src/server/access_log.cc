#include "server/access_log.h"

#include <unistd.h>

#include "core/json.h"
#include "deja/clock.h"

namespace deja::server {

std::string AccessLog::Format(const AccessRecord& r, int64_t unix_ms) {
  std::string line;
  line.reserve(256);
  line += R"({"ts_ms":)";
  line += std::to_string(unix_ms);
  line += R"(,"method":)";
  json::AppendQuoted(r.method, &line);
  line += R"(,"path":)";
  // Paths come from clients: quote them (invalid UTF-8 is replaced by '?').
  std::string path(r.path.substr(0, 256));
  for (char& c : path) {
    if (static_cast<unsigned char>(c) >= 0x80 || static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  json::AppendQuoted(path, &line);
  line += R"(,"route":)";
  json::AppendQuoted(r.route, &line);
  line += R"(,"status":)";
  line += std::to_string(r.status);
  line += R"(,"cache":)";
  json::AppendQuoted(r.cache, &line);
  line += R"(,"key":)";
  json::AppendQuoted(r.key_prefix, &line);
  line += R"(,"latency_us":)";
  line += std::to_string(r.latency_us);
  line += R"(,"upstream_us":)";
  line += std::to_string(r.upstream_us);
  line += "}\n";
  return line;
}

void AccessLog::Emit(const AccessRecord& r) const {
  if (!enabled_) return;
  std::string line = Format(r, SystemClock()->NowMillis());
  ssize_t ignored = ::write(fd_, line.data(), line.size());
  (void)ignored;  // a full or closed log must not fail the request
}

}  // namespace deja::server
