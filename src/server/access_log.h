// One structured (JSON) access-log line per request. Never contains secrets: no header values, no
// bodies, only the first 16 hex digits of the cache key.
//
// Thread safety: Emit may be called from any thread; each line is written with one write(2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace deja::server {

struct AccessRecord {
  std::string_view method;
  std::string_view path;
  std::string_view route;  // "" for uncached paths
  int status = 0;
  std::string_view cache;  // X-Deja-Cache value, or "proxied"
  std::string key_prefix;  // first 16 hex digits, "" when none
  int64_t latency_us = 0;
  int64_t upstream_us = 0;  // 0 when upstream was not called
};

class AccessLog {
 public:
  // fd: where lines go (2 = stderr); enabled=false drops everything.
  AccessLog(int fd, bool enabled) : fd_(fd), enabled_(enabled) {}
  void Emit(const AccessRecord& r) const;
  bool enabled() const { return enabled_; }
  // Formats a line without writing it (for tests).
  static std::string Format(const AccessRecord& r, int64_t unix_ms);

 private:
  int fd_;
  bool enabled_;
};

}  // namespace deja::server
