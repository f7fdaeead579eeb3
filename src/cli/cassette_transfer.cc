// `deja cassette import|export`: moves recordings between a data directory (LMDB store) and a
// cassette. Keys differ between the two: a data directory keys with its own random secret and the
// caller's tenant scope, a cassette with a fixed secret and the shared scope. So both directions
// re-key, which needs the caller (--api-key K, or --shared for tenant_isolation = "shared") and the
// headers that entered the key.
//
// The data-directory store does not keep those headers, so import tries candidates (none; for
// /v1/messages `anthropic-version: 2023-06-01`, which every official Anthropic SDK sends; and the
// --header values) and keeps the one that reproduces the entry's key exactly. Entries no candidate
// reproduces (other tenants, other headers) are skipped and counted, never guessed.
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/cassette_command.h"
#include "core/json.h"
#include "core/key.h"
#include "core/route.h"
#include "deja/store.h"
#include "server/cassette_format.h"
#include "server/gateway.h"

namespace deja::cli {
namespace {

using server::CassetteRecord;

int Fail(const std::string& message) {
  std::fprintf(stderr, "deja cassette: %s\n", message.c_str());
  return 2;
}

StatusOr<TenantScope> DataDirScope(const CassetteFlags& f, const DeploymentSecret& secret) {
  if (f.shared == !f.api_key.empty()) {
    return InvalidArgumentError(
        "give the data directory's tenant: --api-key KEY (tenant_isolation = \"api-key\") or "
        "--shared");
  }
  return ScopeForCredential(secret, f.shared ? server::kSharedScopeCredential : f.api_key);
}

TenantScope CassetteScope() {
  return ScopeForCredential(server::CassetteSecret(), server::kSharedScopeCredential);
}

// The --header flags as a canonical JSON object ("" when none), as normalization writes them.
StatusOr<std::string> HeaderFlags(const std::vector<std::string>& headers) {
  if (headers.empty()) return std::string();
  json::Value obj = json::Value::MakeObject();
  for (const std::string& h : headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos)
      return InvalidArgumentError("--header \"" + h + "\" is not NAME: VALUE");
    std::string name = h.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t v = h.find_first_not_of(' ', colon + 1);
    obj.Set(name, json::Value(v == std::string::npos ? "" : h.substr(v)));
  }
  return json::WriteCanonical(obj);
}

int RunImport(const CassetteFlags& f) {
  std::error_code ec;
  const std::filesystem::path db = std::filesystem::path(f.data_dir) / "store" / "data.mdb";
  if (!std::filesystem::exists(db, ec)) return Fail("no store in " + f.data_dir);
  StatusOr<DeploymentSecret> secret = LoadDeploymentSecret(f.data_dir);
  if (!secret.ok()) return Fail(secret.status().message());
  StatusOr<TenantScope> scope = DataDirScope(f, *secret);
  if (!scope.ok()) return Fail(scope.status().message());
  StatusOr<std::string> extra = HeaderFlags(f.headers);
  if (!extra.ok()) return Fail(extra.status().message());
  StatusOr<std::vector<server::RedactPointer>> redact =
      server::ParseRedactPointers(f.redact_pointers);
  if (!redact.ok()) return Fail(redact.status().message());

  std::map<CacheKey, CassetteRecord> merged;
  StatusOr<std::vector<CassetteRecord>> existing = server::ReadCassetteFile(f.cassette);
  if (existing.ok()) {
    for (CassetteRecord& r : *existing) merged.emplace(r.entry.key, std::move(r));
  } else if (existing.status().code() != StatusCode::kNotFound) {
    return Fail(existing.status().message());
  }

  StoreOptions so;
  so.data_dir = f.data_dir;
  StatusOr<std::unique_ptr<Store>> store = OpenLmdbStore(so);
  if (!store.ok()) return Fail(store.status().message());
  const TenantScope cassette_scope = CassetteScope();
  int imported = 0, skipped = 0;
  Status scan_status;
  Status scanned = (*store)->Scan(ScanOptions{}, [&](const Entry& e) {
    const Route route = RouteFromPath(e.meta.route);
    std::vector<std::string> candidates = {""};
    if (!extra->empty()) candidates.push_back(*extra);
    if (route == Route::kAnthropicMessages)
      candidates.push_back(R"({"anthropic-version":"2023-06-01"})");
    NormalizedRequest n;
    n.canonical = e.canonical_request;
    for (const std::string& headers : candidates) {
      n.keyed_headers = headers;
      if (route == Route::kOther || !(ComputeKey(*scope, e.meta.name_space, route, n) == e.key)) {
        continue;
      }
      CassetteRecord r;
      r.entry = e;
      r.entry.key = ComputeKey(cassette_scope, e.meta.name_space, route, n);
      r.entry.meta.expires_at_ms = 0;
      r.keyed_headers = headers;
      json::Value doc = server::RecordToJson(r);
      server::Redact(*redact, &doc);
      StatusOr<CassetteRecord> redacted = server::RecordFromJson(doc);
      if (!redacted.ok()) {
        scan_status = redacted.status();
        return false;
      }
      merged.insert_or_assign(r.entry.key, std::move(*redacted));
      ++imported;
      return true;
    }
    ++skipped;
    return true;
  });
  if (!scanned.ok()) return Fail(scanned.ToString());
  if (!scan_status.ok()) return Fail(scan_status.ToString());
  std::vector<CassetteRecord> records;
  for (auto& [key, r] : merged) records.push_back(std::move(r));
  if (Status st = server::WriteCassetteFile(f.cassette, std::move(records)); !st.ok()) {
    return Fail(st.ToString());
  }
  std::printf("imported %d entries into %s", imported, f.cassette.c_str());
  if (skipped > 0) {
    std::printf(
        " (skipped %d: other tenants, or keyed headers not among the candidates; see "
        "--header)",
        skipped);
  }
  std::printf("\n");
  return 0;
}

int RunExport(const CassetteFlags& f) {
  StatusOr<std::vector<CassetteRecord>> records = server::ReadCassetteFile(f.cassette);
  if (!records.ok()) return Fail(records.status().message());
  StatusOr<DeploymentSecret> secret = LoadOrCreateDeploymentSecret(f.data_dir);
  if (!secret.ok()) return Fail(secret.status().message());
  StatusOr<TenantScope> scope = DataDirScope(f, *secret);
  if (!scope.ok()) return Fail(scope.status().message());
  StoreOptions so;
  so.data_dir = f.data_dir;
  StatusOr<std::unique_ptr<Store>> store = OpenLmdbStore(so);
  if (!store.ok()) return Fail(store.status().message());
  int exported = 0;
  for (const CassetteRecord& r : *records) {
    const Route route = RouteFromPath(r.entry.meta.route);
    if (route == Route::kOther) return Fail("record " + r.entry.key.Hex() + " has no cached route");
    NormalizedRequest n;
    n.canonical = r.entry.canonical_request;
    n.keyed_headers = r.keyed_headers;
    Entry e = r.entry;
    e.key = ComputeKey(*scope, e.meta.name_space, route, n);
    if (Status st = (*store)->Put(e); !st.ok()) return Fail(st.ToString());
    ++exported;
  }
  std::printf("exported %d records to %s\n", exported, f.data_dir.c_str());
  return 0;
}

}  // namespace

void RegisterCassetteTransfer(CLI::App* cassette, std::shared_ptr<CassetteFlags> f, Runner* run) {
  CLI::App* import = cassette->add_subcommand(
      "import", "Copy a data directory's entries into CASSETTE (re-keyed for cassettes)");
  CLI::App* exp = cassette->add_subcommand(
      "export", "Copy CASSETTE's records into a data directory (re-keyed for its tenant)");
  for (CLI::App* sub : {import, exp}) {
    sub->add_option("cassette", f->cassette, "Cassette file")->required();
    sub->add_option("--data-dir", f->data_dir, "Data directory")->capture_default_str();
    sub->add_option("--api-key", f->api_key,
                    "The API key whose entries these are (tenant_isolation = \"api-key\")");
    sub->add_flag("--shared", f->shared, "The data directory uses tenant_isolation = \"shared\"");
  }
  import->add_option("--header", f->headers,
                     "A header that entered the keys, NAME: VALUE (repeatable), e.g. "
                     "'anthropic-beta: tools-2024-04-04'");
  import->add_option("--redact", f->redact_pointers,
                     "Pointer into records to write as \"[REDACTED]\" (repeatable), e.g. "
                     "/response/body/id");
  import->callback([run, f] { *run = [f] { return RunImport(*f);
};
}  // namespace deja::cli
);
exp->callback([run, f] { *run = [f] { return RunExport(*f); }; });
}

}  // namespace deja::cli
