// `deja store stats|ls|get|rm|purge --data-dir DIR`: inspects and edits the cache store on disk.
// Safe to run while a gateway serves from the same directory (LMDB allows several processes).
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "cli/commands.h"
#include "core/json.h"
#include "deja/store.h"

namespace deja::cli {
namespace {

struct StoreFlags {
  std::string data_dir = "./deja-data";
  std::string key;
  std::string name_space;
  bool has_namespace = false;  // "" is a real namespace (the default one), so presence matters
  std::string model;
  int64_t older_than_s = -1;
  bool all = false;
  bool expired = false;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "deja store: %s\n", message.c_str());
  return 1;
}

// Opens an existing store; unlike OpenLmdbStore, never creates one (a typo in --data-dir should be
// an error, not an empty store).
StatusOr<std::unique_ptr<Store>> OpenExisting(const std::string& data_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(data_dir, ec)) {
    return NotFoundError("data directory " + data_dir + " does not exist");
  }
  std::filesystem::path db = std::filesystem::path(data_dir) / "store" / "data.mdb";
  if (!std::filesystem::exists(db, ec)) {
    return NotFoundError("no store in " + data_dir + " (" + db.string() + " is missing)");
  }
  StoreOptions options;
  options.data_dir = data_dir;
  return OpenLmdbStore(options);
}

// "2024-05-01T12:00:00Z" (with ".123" before the Z when `millis`); "-" for 0 (unset).
std::string IsoTime(int64_t ms, bool millis) {
  if (ms == 0) return "-";
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr) return std::to_string(ms) + "ms";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (millis) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms - int64_t{secs} * 1000));
    out += frac;
  }
  return out + "Z";
}

// `s` with invalid UTF-8 sequences replaced by U+FFFD, since the JSON writer requires valid UTF-8.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t j = 1; ok && j < len; ++j) ok = (static_cast<unsigned char>(s[i + j]) >> 6) == 0x2;
    if (ok && len > 1) {  // reject overlong forms, surrogates and code points past U+10FFFF
      uint32_t cp = c & (0xff >> (len + 1));
      for (size_t j = 1; j < len; ++j) cp = cp << 6 | (static_cast<unsigned char>(s[i + j]) & 0x3f);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      i += 1;
    }
  }
  return out;
}

// JSON text embedded as a value when it parses (readable), otherwise as a string.
json::Value MaybeJson(const std::string& text) {
  if (!text.empty()) {
    StatusOr<json::Value> v = json::Parse(text);
    if (v.ok()) return std::move(*v);
  }
  return json::Value(ValidUtf8(text));
}

json::Value EntryJson(const Entry& e) {
  const CachedResponse& r = e.response;
  json::Value resp = json::Value::MakeObject();
  resp.Set("status", json::Value(r.status));
  resp.Set("content_type", json::Value(ValidUtf8(r.content_type)));
  resp.Set("streamed", json::Value(r.streamed));
  if (r.streamed) {
    json::Value events = json::Value::MakeArray();
    for (const StreamEvent& ev : r.events) {
      json::Value o = json::Value::MakeObject();
      if (!ev.event.empty()) o.Set("event", json::Value(ValidUtf8(ev.event)));
      o.Set("data", MaybeJson(ev.data));
      events.Push(std::move(o));
    }
    resp.Set("events", std::move(events));
  } else {
    resp.Set("body", MaybeJson(r.body));
  }
  const EntryMeta& m = e.meta;
  json::Value meta = json::Value::MakeObject();
  meta.Set("created_at", json::Value(IsoTime(m.created_at_ms, true)));
  meta.Set("expires_at",
           m.expires_at_ms == 0 ? json::Value() : json::Value(IsoTime(m.expires_at_ms, true)));
  meta.Set("hit_count", json::Value(m.hit_count));
  meta.Set("last_hit_at",
           m.last_hit_at_ms == 0 ? json::Value() : json::Value(IsoTime(m.last_hit_at_ms, true)));
  meta.Set("model", json::Value(ValidUtf8(m.model)));
  meta.Set("route", json::Value(ValidUtf8(m.route)));
  meta.Set("namespace", json::Value(ValidUtf8(m.name_space)));
  meta.Set("input_tokens", json::Value(m.input_tokens));
  meta.Set("output_tokens", json::Value(m.output_tokens));
  meta.Set("upstream_latency_us", json::Value(m.upstream_latency_us));
  meta.Set("size_bytes", json::Value(m.size_bytes));
  json::Value out = json::Value::MakeObject();
  out.Set("key", json::Value(e.key.Hex()));
  out.Set("request", MaybeJson(e.canonical_request));
  out.Set("response", std::move(resp));
  out.Set("meta", std::move(meta));
  return out;
}

int RunStats(const StoreFlags& f) {
  StatusOr<std::unique_ptr<Store>> store = OpenExisting(f.data_dir);
  if (!store.ok()) return Fail(store.status().message());
  StatusOr<StoreStats> s = (*store)->Stats();
  if (!s.ok()) return Fail(s.status().ToString());
  std::printf(
      "entries: %lld\nbytes: %lld\ncapacity_bytes: %lld\nevictions: %lld\n"
      "expirations: %lld\nmap_size_bytes: %lld\nmap_used_bytes: %lld\n",
      static_cast<long long>(s->entries), static_cast<long long>(s->bytes),
      static_cast<long long>(s->capacity_bytes), static_cast<long long>(s->evictions),
      static_cast<long long>(s->expirations), static_cast<long long>(s->map_size_bytes),
      static_cast<long long>(s->map_used_bytes));
  return 0;
}

int RunLs(const StoreFlags& f) {
  StatusOr<std::unique_ptr<Store>> store = OpenExisting(f.data_dir);
  if (!store.ok()) return Fail(store.status().message());
  ScanOptions o;
  o.filter_namespace = f.has_namespace;
  o.name_space = f.name_space;
  o.model = f.model;
  o.include_expired = f.expired;
  o.with_response = false;
  auto dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  Status s = (*store)->Scan(o, [&](const Entry& e) {
    const EntryMeta& m = e.meta;
    std::printf("%s\t%s\t%s\t%s\t%lld\t%s\t%s\t%lld\n", e.key.Hex().c_str(),
                dash(m.name_space).c_str(), dash(m.route).c_str(), dash(m.model).c_str(),
                static_cast<long long>(m.size_bytes), IsoTime(m.created_at_ms, false).c_str(),
                m.expires_at_ms == 0 ? "never" : IsoTime(m.expires_at_ms, false).c_str(),
                static_cast<long long>(m.hit_count));
    return true;
  });
  return s.ok() ? 0 : Fail(s.ToString());
}

int RunGet(const StoreFlags& f) {
  StatusOr<CacheKey> key = CacheKey::FromHex(f.key);
  if (!key.ok()) return Fail(key.status().message());
  StatusOr<std::unique_ptr<Store>> store = OpenExisting(f.data_dir);
  if (!store.ok()) return Fail(store.status().message());
  StatusOr<Entry> e = (*store)->Peek(*key);  // inspecting is not a cache hit
  if (!e.ok()) {
    if (e.status().code() == StatusCode::kNotFound) return Fail("no live entry with key " + f.key);
    return Fail(e.status().ToString());
  }
  std::string out;
  json::AppendPretty(EntryJson(*e), 0, &out);
  std::printf("%s\n", out.c_str());
  return 0;
}

int RunRm(const StoreFlags& f) {
  StatusOr<CacheKey> key = CacheKey::FromHex(f.key);
  if (!key.ok()) return Fail(key.status().message());
  StatusOr<std::unique_ptr<Store>> store = OpenExisting(f.data_dir);
  if (!store.ok()) return Fail(store.status().message());
  Status s = (*store)->Delete(*key);
  if (s.code() == StatusCode::kNotFound) return Fail("no entry with key " + f.key);
  if (!s.ok()) return Fail(s.ToString());
  std::printf("removed %s\n", f.key.c_str());
  return 0;
}

int RunPurge(const StoreFlags& f) {
  const bool filtered = f.has_namespace || !f.model.empty() || f.older_than_s >= 0;
  if (!filtered && !f.all) {
    return Fail("purge needs --namespace, --model, --older-than or --all");
  }
  if (filtered && f.all) return Fail("--all cannot be combined with filters");
  StatusOr<std::unique_ptr<Store>> store = OpenExisting(f.data_dir);
  if (!store.ok()) return Fail(store.status().message());
  ScanOptions o;
  o.filter_namespace = f.has_namespace;
  o.name_space = f.name_space;
  o.model = f.model;
  if (f.older_than_s >= 0) {
    // created_before_ms == 0 means "no age filter", so --older-than 0 becomes "before now + 1".
    o.created_before_ms =
        SystemClock()->NowMillis() - f.older_than_s * 1000 + (f.older_than_s == 0);
  }
  o.include_expired = true;  // purging removes matching entries whether or not they expired
  o.with_response = false;
  StatusOr<int64_t> n = (*store)->Purge(o);
  if (!n.ok()) return Fail(n.status().ToString());
  std::printf("purged %lld entries\n", static_cast<long long>(*n));
  return 0;
}

}  // namespace

void RegisterStoreCommand(CLI::App& app, Runner* run) {
  auto f = std::make_shared<StoreFlags>();
  CLI::App* cmd = app.add_subcommand("store", "Inspect and edit the cache store");
  cmd->require_subcommand(1);
  auto add = [&](const char* name, const char* help, int (*fn)(const StoreFlags&)) {
    CLI::App* sub = cmd->add_subcommand(name, help);
    sub->add_option("--data-dir", f->data_dir, "Data directory of the gateway")
        ->capture_default_str();
    sub->callback([run, f, fn] { *run = [f, fn] { return fn(*f); }; });
    return sub;
  };
  add("stats", "Print store statistics as key: value lines", RunStats);
  CLI::App* ls = add("ls",
                     "List entries, one per line: key, namespace, route, model, size, created, "
                     "expires, hits (tab-separated; '-' for empty)",
                     RunLs);
  CLI::App* get = add("get", "Print one entry (request, response, metadata) as JSON", RunGet);
  get->add_option("key", f->key, "Cache key (64 hex digits)")->required();
  CLI::App* rm = add("rm", "Delete one entry", RunRm);
  rm->add_option("key", f->key, "Cache key (64 hex digits)")->required();
  CLI::App* purge = add("purge", "Delete entries by namespace, model or age, or all", RunPurge);
  for (CLI::App* sub : {ls, purge}) {
    sub->add_option("--namespace", f->name_space, "Only this namespace (\"\" = default)")
        ->each([f](const std::string&) { f->has_namespace = true; });
    sub->add_option("--model", f->model, "Only this model");
  }
  ls->add_flag("--expired", f->expired, "Include expired entries");
  purge
      ->add_option("--older-than", f->older_than_s,
                   "Only entries created at least this many "
                   "seconds ago")
      ->check(CLI::NonNegativeNumber);
  purge->add_flag("--all", f->all, "Delete every entry");
}

}  // namespace deja::cli
