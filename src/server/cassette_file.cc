// Cassette files: rendering, parsing, atomic writes, timestamps (see cassette_format.h).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/cassette_format.h"

namespace deja::server {
namespace {

Status Errno(const std::string& what) {
  return UnavailableError(what + ": " + std::strerror(errno));
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

std::string RenderRecord(const json::Value& record) {
  std::string out = "    ";
  json::AppendPretty(record, 2, &out);
  return out;
}

std::string RenderCassette(const std::vector<const std::string*>& rendered_records) {
  std::string out = "{\n  \"deja_cassette\": " + std::to_string(kCassetteVersion) + ",\n";
  if (rendered_records.empty()) return out + "  \"records\": []\n}\n";
  size_t size = out.size() + 32;
  for (const std::string* r : rendered_records) size += r->size() + 2;
  out.reserve(size);
  out += "  \"records\": [\n";
  for (size_t i = 0; i < rendered_records.size(); ++i) {
    out += *rendered_records[i];
    out += i + 1 < rendered_records.size() ? ",\n" : "\n";
  }
  out += "  ]\n}\n";
  return out;
}

StatusOr<std::vector<CassetteRecord>> ParseCassette(std::string_view text,
                                                    std::string_view source) {
  json::ParseOptions options;
  options.max_size = size_t{1} << 30;
  options.max_depth = 256;  // requests may nest up to server.max_json_depth inside a record
  StatusOr<json::Value> doc = json::Parse(text, options);
  const std::string where(source);
  if (!doc.ok()) return InvalidArgumentError(where + ": " + doc.status().message());
  const json::Value* version = doc->Find("deja_cassette");
  if (version == nullptr || !version->is_number()) {
    return InvalidArgumentError(where + ": not a deja cassette (no \"deja_cassette\" version)");
  }
  if (version->as_number() != kCassetteVersion) {
    return InvalidArgumentError(where + ": cassette version " + json::Write(*version) +
                                " is not supported (this deja reads version " +
                                std::to_string(kCassetteVersion) + ")");
  }
  const json::Value* records = doc->Find("records");
  if (records == nullptr || !records->is_array()) {
    return InvalidArgumentError(where + ": \"records\" must be an array");
  }
  std::vector<CassetteRecord> out;
  out.reserve(records->as_array().size());
  for (size_t i = 0; i < records->as_array().size(); ++i) {
    StatusOr<CassetteRecord> r = RecordFromJson(records->as_array()[i]);
    if (!r.ok()) {
      return InvalidArgumentError(where + ": records/" + std::to_string(i) + ": " +
                                  r.status().message());
    }
    out.push_back(std::move(*r));
  }
  std::stable_sort(out.begin(), out.end(), [](const CassetteRecord& a, const CassetteRecord& b) {
    return a.entry.key < b.entry.key;
  });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].entry.key == out[i - 1].entry.key) {
      return InvalidArgumentError(where + ": key " + out[i].entry.key.Hex() + " is recorded twice");
    }
  }
  return out;
}

StatusOr<std::vector<CassetteRecord>> ReadCassetteFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      return NotFoundError("cassette " + path + " does not exist");
    return UnavailableError("cannot read cassette " + path);
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return ParseCassette(buf.str(), path);
}

Status WriteCassetteFile(const std::string& path, std::vector<CassetteRecord> records) {
  std::sort(records.begin(), records.end(), [](const CassetteRecord& a, const CassetteRecord& b) {
    return a.entry.key < b.entry.key;
  });
  std::vector<std::string> rendered;
  rendered.reserve(records.size());
  for (const CassetteRecord& r : records) rendered.push_back(RenderRecord(RecordToJson(r)));
  std::vector<const std::string*> refs;
  for (const std::string& r : rendered) refs.push_back(&r);
  return WriteFileAtomically(path, RenderCassette(refs));
}

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  const std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  const std::string tmp =
      (dir / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()))).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create " + tmp);
  Status st = WriteAll(fd, contents);
  if (st.ok() && ::fsync(fd) != 0) st = Errno("fsync " + tmp);
  if (::close(fd) != 0 && st.ok()) st = Errno("close " + tmp);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = Errno("rename to " + path);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // The rename is durable only once the directory entry is on disk.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) return Errno("fsync " + dir.string());
  }
  return Status::Ok();
}

std::string FormatIsoMillis(int64_t ms) {
  const int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms - secs * 1000));
  return buf;
}

StatusOr<int64_t> ParseIsoMillis(std::string_view text) {
  std::tm tm{};
  int millis = 0;
  char z = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis, &z) != 8 ||
      z != 'Z' || s.size() != 24) {
    return InvalidArgumentError("\"" + s + "\" is not YYYY-MM-DDTHH:MM:SS.mmmZ");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + millis;
}

}  // namespace deja::server
