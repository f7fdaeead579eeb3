// Cassette files: rendering, parsing, atomic writes, timestamps (see cassette_format.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>

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

namespace {

// ---- Splitting a cassette into its records without parsing the whole document.
//
// Parsing the whole file into one tree costs several times the file's size in memory (for a
// 355 MiB cassette of streamed answers, 1.4 GiB at the peak) and much of the time goes to faulting
// in that memory. So ParseCassette first cuts the text into the top-level members with a scanner
// that only tracks strings and bracket depth, then parses and converts one record at a time. The
// scanner validates nothing beyond the layout: each span goes through json::Parse, and when
// anything is unexpected (another layout, a syntax error) ParseCassette parses the whole document
// as before, so errors read the same.

char At(std::string_view t, size_t i) { return i < t.size() ? t[i] : '\0'; }

size_t SkipSpace(std::string_view t, size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\n' || t[i] == '\r' || t[i] == '\t')) ++i;
  return i;
}

// t[i] is '"'; returns the index after the closing quote, npos if the text ends first.
size_t SkipString(std::string_view t, size_t i) {
  for (++i; i < t.size(); ++i) {
    if (t[i] == '"') return i + 1;
    if (t[i] == '\\') ++i;
  }
  return std::string_view::npos;
}

// The end of the value starting at t[i]; npos if the text ends first or there is no value.
size_t SkipValue(std::string_view t, size_t i) {
  const char c = At(t, i);
  if (c == '"') return SkipString(t, i);
  if (c == '{' || c == '[') {
    size_t depth = 0;
    while (i < t.size()) {
      const char ch = t[i];
      if (ch == '"') {
        i = SkipString(t, i);
        continue;
      }
      if (ch == '{' || ch == '[') ++depth;
      if ((ch == '}' || ch == ']') && --depth == 0) return i + 1;
      ++i;
    }
    return std::string_view::npos;
  }
  const size_t start = i;
  while (i < t.size() && std::strchr(",}] \n\r\t", t[i]) == nullptr) ++i;
  return i > start ? i : std::string_view::npos;
}

struct CassetteSpans {
  std::string_view version;
  std::vector<std::string_view> records;
};

// Cuts `{"deja_cassette": V, "records": [R, …], …}` (members in any order) into V and the Rs.
// false for any other layout, a member named twice, or text after the object.
bool SplitCassette(std::string_view t, CassetteSpans* out) {
  bool seen_version = false, seen_records = false;
  size_t i = SkipSpace(t, 0);
  if (At(t, i) != '{') return false;
  i = SkipSpace(t, i + 1);
  while (true) {
    if (At(t, i) != '"') return false;
    const size_t name_end = SkipString(t, i);
    if (name_end == std::string_view::npos) return false;
    const std::string_view name = t.substr(i, name_end - i);
    i = SkipSpace(t, name_end);
    if (At(t, i) != ':') return false;
    i = SkipSpace(t, i + 1);
    if (name == "\"records\"") {
      if (seen_records || At(t, i) != '[') return false;
      seen_records = true;
      i = SkipSpace(t, i + 1);
      if (At(t, i) == ']') {
        ++i;
      } else {
        while (true) {
          const size_t end = SkipValue(t, i);
          if (end == std::string_view::npos) return false;
          out->records.push_back(t.substr(i, end - i));
          i = SkipSpace(t, end);
          if (At(t, i) == ']') break;
          if (At(t, i) != ',') return false;
          i = SkipSpace(t, i + 1);
        }
        ++i;
      }
    } else {
      const size_t end = SkipValue(t, i);
      if (end == std::string_view::npos) return false;
      if (name == "\"deja_cassette\"") {
        if (seen_version) return false;
        seen_version = true;
        out->version = t.substr(i, end - i);
      }
      i = end;
    }
    i = SkipSpace(t, i);
    if (At(t, i) == '}') break;
    if (At(t, i) != ',') return false;
    i = SkipSpace(t, i + 1);
  }
  return seen_version && seen_records && SkipSpace(t, i + 1) == t.size();
}

Status CheckVersion(const json::Value* version, const std::string& where) {
  if (version == nullptr || !version->is_number()) {
    return InvalidArgumentError(where + ": not a deja cassette (no \"deja_cassette\" version)");
  }
  if (version->as_number() != kCassetteVersion) {
    return InvalidArgumentError(where + ": cassette version " + json::Write(*version) +
                                " is not supported (this deja reads version " +
                                std::to_string(kCassetteVersion) + ")");
  }
  return Status::Ok();
}

Status AddRecord(const json::Value& record, size_t i, const std::string& where,
                 std::vector<CassetteRecord>* out) {
  StatusOr<CassetteRecord> r = RecordFromJson(record);
  if (!r.ok()) {
    return InvalidArgumentError(where + ": records/" + std::to_string(i) + ": " +
                                r.status().message());
  }
  out->push_back(std::move(*r));
  return Status::Ok();
}

// Records parsed one span at a time; nullopt when the text must be parsed whole instead.
std::optional<Status> ParseBySpans(std::string_view text, const json::ParseOptions& options,
                                   const std::string& where, std::vector<CassetteRecord>* out) {
  CassetteSpans spans;
  if (text.size() > options.max_size || !SplitCassette(text, &spans)) return std::nullopt;
  json::ParseOptions inner = options;
  inner.max_depth -= 2;  // a record sits inside the document object and the records array
  StatusOr<json::Value> version = json::Parse(spans.version, inner);
  if (!version.ok()) return std::nullopt;
  if (Status st = CheckVersion(&*version, where); !st.ok()) return st;
  out->reserve(spans.records.size());
  for (size_t i = 0; i < spans.records.size(); ++i) {
    StatusOr<json::Value> record = json::Parse(spans.records[i], inner);
    if (!record.ok()) return std::nullopt;
    if (Status st = AddRecord(*record, i, where, out); !st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<CassetteRecord>> ParseCassette(std::string_view text,
                                                    std::string_view source) {
  json::ParseOptions options;
  options.max_size = size_t{1} << 30;
  options.max_depth = 256;  // requests may nest up to server.max_json_depth inside a record
  const std::string where(source);
  std::vector<CassetteRecord> out;
  std::optional<Status> by_spans = ParseBySpans(text, options, where, &out);
  if (by_spans && !by_spans->ok()) return *by_spans;
  if (!by_spans) {
    out.clear();
    StatusOr<json::Value> doc = json::Parse(text, options);
    if (!doc.ok()) return InvalidArgumentError(where + ": " + doc.status().message());
    DEJA_RETURN_IF_ERROR(CheckVersion(doc->Find("deja_cassette"), where));
    const json::Value* records = doc->Find("records");
    if (records == nullptr || !records->is_array()) {
      return InvalidArgumentError(where + ": \"records\" must be an array");
    }
    out.reserve(records->as_array().size());
    for (size_t i = 0; i < records->as_array().size(); ++i) {
      DEJA_RETURN_IF_ERROR(AddRecord(records->as_array()[i], i, where, &out));
    }
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
  // One read(2) into a buffer of the file's size: a stream buffer would copy the text twice more
  // (measured: a fifth of the load time of a 17 MB cassette).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("cassette " + path + " does not exist");
    return Errno("cannot read cassette " + path);
  }
  // The file's size + 1, so that end of file shows in the first pass; grows if the file does.
  struct stat st;
  const size_t initial =
      ::fstat(fd, &st) == 0 && st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 1 << 16;
  std::string text;
  size_t used = 0;
  for (;;) {
    if (used == text.size()) text.resize(std::max(initial, text.size() * 2));
    const ssize_t n = ::read(fd, text.data() + used, text.size() - used);
    if (n > 0) {
      used += static_cast<size_t>(n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      const Status failed = Errno("cannot read cassette " + path);
      ::close(fd);
      return failed;
    }
  }
  text.resize(used);
  ::close(fd);
  return ParseCassette(text, path);
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
