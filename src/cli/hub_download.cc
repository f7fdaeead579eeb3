#include "cli/hub_download.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <system_error>

#include "core/json.h"
#include "server/absolute_url.h"

namespace deja::cli {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxRedirects = 10;
constexpr size_t kMaxListingBytes = 16u << 20;
constexpr size_t kMaxErrorBody = 4096;
// Files at least this large get progress lines at every quarter.
constexpr uint64_t kProgressBytes = 8u << 20;

// Percent-encodes everything but RFC 3986 unreserved characters (and '/' when keep_slash).
std::string Escape(std::string_view s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string HumanBytes(uint64_t n) {
  char buf[32];
  if (n < 10 * 1024) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  } else if (n < 10ull * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1024 * 1024));
  }
  return buf;
}

std::string OriginOf(std::string_view url) {
  StatusOr<server::SplitUrl> s = server::SplitAbsoluteUrl(url);
  return s.ok() ? s->base : std::string();
}

// A repository path that stays inside the model directory.
bool SafeRelativePath(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.find('\\') != std::string_view::npos ||
      p.find('\0') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view seg = p.substr(start, slash - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = slash + 1;
  }
  return true;
}

struct RepoFile {
  std::string path;
  std::optional<uint64_t> size;
  std::string sha256;  // LFS files only (lower-case hex)
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view d) { EVP_DigestUpdate(ctx_, d.data(), d.size()); }
  std::string HexDigest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out.push_back(hex[md[i] >> 4]);
      out.push_back(hex[md[i] & 15]);
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string FileSha256(const fs::path& p) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(p.c_str(), "rb"), std::fclose);
  if (f == nullptr) return "";
  Sha256 h;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) h.Update(std::string_view(buf, n));
  return h.HexDigest();
}

// One GET, following redirects. `on_ok_head` runs once the final 200 arrives (its Content-Length
// is passed, or -1), `on_data` per body chunk of that answer. Non-2xx final answers come back as
// *status with up to kMaxErrorBody bytes of body in *error_body.
class Getter {
 public:
  Getter(server::UpstreamClient& client, std::string endpoint_origin, std::string token)
      : client_(client), endpoint_origin_(std::move(endpoint_origin)), token_(std::move(token)) {}

  Status Get(const std::string& start_url, int* status, std::string* error_body,
             const std::function<bool(int64_t)>& on_ok_head,
             const std::function<bool(std::string_view)>& on_data) {
    std::string url = start_url;
    for (int hop = 0;; ++hop) {
      DEJA_ASSIGN_OR_RETURN(server::SplitUrl split, server::SplitAbsoluteUrl(url));
      server::UpstreamRequest req;
      req.method = "GET";
      req.target = split.target;
      req.headers = {{"Accept", "*/*"}, {"User-Agent", "deja-models-pull"}};
      if (!token_.empty() && split.base == endpoint_origin_) {
        req.headers.emplace_back("Authorization", "Bearer " + token_);
      }
      req.base_url = split.base;
      std::string location;
      bool redirect = false;
      bool ok_answer = false;
      error_body->clear();
      Status s = client_.Send(
          req,
          [&](const server::UpstreamResponseHead& head) {
            *status = head.status;
            const int c = head.status;
            redirect = c == 301 || c == 302 || c == 303 || c == 307 || c == 308;
            if (redirect) location = std::string(server::FindHeader(head.headers, "location"));
            ok_answer = c >= 200 && c <= 299;
            if (!ok_answer) return true;
            std::string_view cl = server::FindHeader(head.headers, "content-length");
            const int64_t length =
                cl.empty() ? -1 : std::strtoll(std::string(cl).c_str(), nullptr, 10);
            return on_ok_head(length);
          },
          [&](std::string_view chunk) {
            if (ok_answer) return on_data(chunk);
            if (!redirect && error_body->size() < kMaxErrorBody) error_body->append(chunk);
            return true;
          });
      if (!s.ok()) return Status(s.code(), "GET " + url + ": " + s.message());
      if (!redirect) return Status::Ok();
      if (location.empty()) {
        return Status(StatusCode::kUnavailable,
                      "GET " + url + ": redirect " + std::to_string(*status) + " without Location");
      }
      if (hop + 1 >= kMaxRedirects) {
        return Status(StatusCode::kUnavailable, "GET " + start_url + ": more than " +
                                                    std::to_string(kMaxRedirects) + " redirects");
      }
      url = server::ResolveLocation(url, location);
    }
  }

 private:
  server::UpstreamClient& client_;
  const std::string endpoint_origin_;
  const std::string token_;
};

// The server's error message, if the body is JSON with one ({"error": "..."}).
std::string ErrorText(const std::string& body) {
  StatusOr<json::Value> doc = json::Parse(body);
  if (doc.ok() && doc->is_object()) {
    if (!doc->GetString("error").empty()) return std::string(doc->GetString("error"));
  }
  return "";
}

// Temporary files and directories of one pull: removed unless Commit() succeeded.
class Staging {
 public:
  ~Staging() {
    std::error_code ec;
    for (const fs::path& t : temps_) fs::remove(t, ec);
    for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) {
      if (fs::is_empty(*it, ec)) fs::remove(*it, ec);
    }
  }
  // Creates `dir` and its missing parents, remembering which it created.
  Status MakeDirs(const fs::path& dir) {
    std::vector<fs::path> missing;
    std::error_code ec;
    for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      missing.push_back(p);
      if (p == p.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (!fs::create_directory(*it, ec) && ec) {
        return InternalError("cannot create " + it->string() + ": " + ec.message());
      }
      created_dirs_.push_back(*it);
    }
    return Status::Ok();
  }
  void AddTemp(fs::path p) { temps_.push_back(std::move(p)); }
  void Pair(fs::path temp, fs::path final) {
    renames_.emplace_back(std::move(temp), std::move(final));
  }
  Status Commit() {
    for (const auto& [temp, final] : renames_) {
      std::error_code ec;
      fs::rename(temp, final, ec);
      if (ec) return InternalError("cannot rename " + temp.string() + ": " + ec.message());
    }
    created_dirs_.clear();
    return Status::Ok();
  }

 private:
  std::vector<fs::path> temps_;
  std::vector<fs::path> created_dirs_;
  std::vector<std::pair<fs::path, fs::path>> renames_;
};

Status ParseListing(const std::string& body, std::string* commit, std::vector<RepoFile>* files) {
  StatusOr<json::Value> doc = json::Parse(body);
  if (!doc.ok())
    return DataLossError("the hub's file listing is not JSON: " + doc.status().message());
  const json::Value* siblings = doc->is_object() ? doc->Find("siblings") : nullptr;
  if (siblings == nullptr || !siblings->is_array()) {
    return DataLossError("the hub's file listing has no \"siblings\" array");
  }
  *commit = std::string(doc->GetString("sha"));
  for (const json::Value& s : siblings->as_array()) {
    if (!s.is_object() || s.GetString("rfilename").empty()) continue;
    RepoFile f;
    f.path = std::string(s.GetString("rfilename"));
    const json::Value* lfs = s.Find("lfs");
    const json::Value* size = s.Find("size");
    if (lfs != nullptr && lfs->is_object()) {
      f.sha256 = std::string(lfs->GetString("sha256"));
      if (size == nullptr) size = lfs->Find("size");
    }
    if (size != nullptr && size->is_number() && size->as_number() >= 0) {
      f.size = static_cast<uint64_t>(size->as_number());
    }
    files->push_back(std::move(f));
  }
  return Status::Ok();
}

Status StatusForHttp(int status, const std::string& what, const std::string& detail) {
  const std::string tail = detail.empty() ? "" : " (" + detail + ")";
  if (status == 404 || status == 401) {
    return NotFoundError(what + " not found (HTTP " + std::to_string(status) + tail +
                         "); check the name, or set HF_TOKEN if it is private");
  }
  if (status == 403) {
    return PermissionDeniedError(what + ": access denied (HTTP 403" + tail +
                                 "); a gated model needs HF_TOKEN of an account with access");
  }
  return UnavailableError(what + ": HTTP " + std::to_string(status) + tail);
}

}  // namespace

bool HubFileWanted(std::string_view f) {
  static const std::set<std::string_view> kWanted = {
      "config.json", "config_sentence_transformers.json", "tokenizer.json", "tokenizer_config.json",
      "vocab.txt", "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
      "1_Pooling/config.json", "model.safetensors",
      // sentence-transformers' StaticEmbedding module (a model2vec model saved by that library).
      "0_StaticEmbedding/model.safetensors", "0_StaticEmbedding/tokenizer.json"};
  return kWanted.count(f) != 0;
}

Status PullHubModel(const HubPullOptions& o, server::UpstreamClient& client,
                    const std::function<void(const std::string&)>& progress) {
  if (!SafeRelativePath(o.name) || o.name.find('/') != o.name.rfind('/')) {
    return InvalidArgumentError("\"" + o.name + "\" is not a model name like org/model");
  }
  if (o.revision.empty()) return InvalidArgumentError("the revision is empty");
  std::string endpoint = o.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const std::string origin = OriginOf(endpoint);
  if (origin.empty()) {
    return InvalidArgumentError("the endpoint \"" + o.endpoint + "\" is not an http(s) URL");
  }
  Getter getter(client, origin, o.token);
  const std::string repo = Escape(o.name, /*keep_slash=*/true);
  const std::string what = "model " + o.name + " (revision " + o.revision + ") on " + endpoint;

  // 1. The file listing.
  std::string listing, error_body;
  int status = 0;
  DEJA_RETURN_IF_ERROR(getter.Get(
      endpoint + "/api/models/" + repo + "/revision/" + Escape(o.revision, false) + "?blobs=true",
      &status, &error_body, [](int64_t) { return true; },
      [&](std::string_view d) {
        listing.append(d);
        return listing.size() <= kMaxListingBytes;
      }));
  if (status < 200 || status > 299) return StatusForHttp(status, what, ErrorText(error_body));
  std::string commit;
  std::vector<RepoFile> all;
  DEJA_RETURN_IF_ERROR(ParseListing(listing, &commit, &all));
  std::vector<RepoFile> files;
  std::set<std::string> extra(o.extra_files.begin(), o.extra_files.end());
  for (RepoFile& f : all) {
    if (!HubFileWanted(f.path) && extra.erase(f.path) == 0) continue;
    if (!SafeRelativePath(f.path)) return DataLossError("unsafe file name in listing: " + f.path);
    files.push_back(std::move(f));
  }
  if (!extra.empty()) return NotFoundError(what + " has no file " + *extra.begin());
  if (files.empty()) {
    return NotFoundError(what +
                         " has none of the files deja uses (config.json, tokenizer.json, "
                         "model.safetensors, ...)");
  }
  // Resolve every file at the listed commit, so a branch moving mid-pull cannot mix versions.
  const bool commit_ok =
      commit.size() == 40 && commit.find_first_not_of("0123456789abcdef") == std::string::npos;
  const std::string rev = commit_ok ? commit : o.revision;
  progress("pulling " + o.name + " (revision " + o.revision +
           (commit_ok ? ", commit " + commit.substr(0, 12) : std::string()) + ") from " + endpoint +
           " into " + o.dest);
  bool has_weights = false;
  for (const RepoFile& f : files) has_weights |= f.path.find(".safetensors") != std::string::npos;
  if (!has_weights) {
    progress(
        "note: the repository has no model.safetensors; deja reads weights only from "
        "safetensors files");
  }

  // 2. The files, into temporary names.
  Staging staging;
  const fs::path dest(o.dest);
  uint64_t total = 0;
  int fetched = 0;
  for (const RepoFile& f : files) {
    const fs::path final_path = dest / f.path;
    std::error_code ec;
    if (!f.sha256.empty() && f.size && fs::is_regular_file(final_path, ec) &&
        fs::file_size(final_path, ec) == *f.size && FileSha256(final_path) == f.sha256) {
      progress("  " + f.path + ": up to date");
      continue;
    }
    DEJA_RETURN_IF_ERROR(staging.MakeDirs(final_path.parent_path()));
    const fs::path temp =
        final_path.parent_path() /
        ("." + final_path.filename().string() + ".deja-partial-" + std::to_string(::getpid()));
    staging.AddTemp(temp);
    std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(temp.c_str(), "wb"), std::fclose);
    if (out == nullptr) return InternalError("cannot create " + temp.string());
    Sha256 hash;
    uint64_t got = 0;
    int64_t announced = -1;
    int next_quarter = 1;
    bool write_failed = false;
    const std::string url =
        endpoint + "/" + repo + "/resolve/" + Escape(rev, false) + "/" + Escape(f.path, true);
    Status s = getter.Get(
        url, &status, &error_body,
        [&](int64_t length) {
          announced = length;
          return true;
        },
        [&](std::string_view d) {
          if (std::fwrite(d.data(), 1, d.size(), out.get()) != d.size()) {
            write_failed = true;
            return false;
          }
          hash.Update(d);
          got += d.size();
          const uint64_t expect =
              f.size ? *f.size : static_cast<uint64_t>(std::max<int64_t>(0, announced));
          while (expect >= kProgressBytes && next_quarter < 4 && got * 4 >= expect * next_quarter) {
            progress("  " + f.path + ": " + std::to_string(next_quarter * 25) + "% of " +
                     HumanBytes(expect));
            ++next_quarter;
          }
          return true;
        });
    if (write_failed) return InternalError("cannot write " + temp.string());
    DEJA_RETURN_IF_ERROR(s);
    if (status < 200 || status > 299) {
      return StatusForHttp(status, "file " + f.path + " of " + what, ErrorText(error_body));
    }
    if (std::fflush(out.get()) != 0 || ::fsync(fileno(out.get())) != 0) {
      return InternalError("cannot write " + temp.string());
    }
    out.reset();
    if (f.size && got != *f.size) {
      return DataLossError(f.path + ": received " + std::to_string(got) +
                           " bytes, the listing says " + std::to_string(*f.size));
    }
    if (announced >= 0 && got != static_cast<uint64_t>(announced)) {
      return DataLossError(f.path + ": received " + std::to_string(got) +
                           " bytes, Content-Length said " + std::to_string(announced));
    }
    if (!f.sha256.empty() && hash.HexDigest() != f.sha256) {
      return DataLossError(f.path + ": SHA-256 does not match the listing");
    }
    staging.Pair(temp, final_path);
    progress("  " + f.path + ": " + HumanBytes(got));
    total += got;
    ++fetched;
  }
  DEJA_RETURN_IF_ERROR(staging.Commit());
  progress("done: " + std::to_string(fetched) + " file" + (fetched == 1 ? "" : "s") + ", " +
           HumanBytes(total) + " in " + o.dest);
  return Status::Ok();
}

}  // namespace deja::cli
