#include "core/key.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/blake3.h"

namespace deja {
namespace {

void UpdateFramed(Blake3& h, std::string_view field) {
  uint8_t len[8];
  uint64_t n = field.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  h.Update(len, sizeof len);
  h.Update(field);
}

std::string ErrnoMessage(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

Status ReadSecret(const std::string& path, DeploymentSecret* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return UnavailableError(ErrnoMessage("cannot open deployment secret", path));
  ssize_t n = ::read(fd, out->data(), out->size());
  ::close(fd);
  if (n != static_cast<ssize_t>(out->size())) {
    return DataLossError("deployment secret " + path +
                         " is not 32 bytes; remove it to make a new " +
                         "one (all cached entries then become unreachable)");
  }
  return Status::Ok();
}

}  // namespace

std::string TenantScope::Hex() const { return HexEncode(bytes.data(), bytes.size()); }

StatusOr<DeploymentSecret> LoadDeploymentSecret(const std::string& data_dir) {
  const std::string path = data_dir + "/secret";
  if (::access(path.c_str(), F_OK) != 0) {
    return NotFoundError("no deployment secret at " + path +
                         " (it is created when `deja serve` first starts with that --data-dir)");
  }
  DeploymentSecret secret;
  DEJA_RETURN_IF_ERROR(ReadSecret(path, &secret));
  return secret;
}

StatusOr<DeploymentSecret> LoadOrCreateDeploymentSecret(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return UnavailableError("cannot create data directory " + data_dir + ": " + ec.message());
  }
  const std::string path = data_dir + "/secret";
  DeploymentSecret secret;
  if (::access(path.c_str(), F_OK) == 0) {
    DEJA_RETURN_IF_ERROR(ReadSecret(path, &secret));
    return secret;
  }
  if (::getrandom(secret.data(), secret.size(), 0) != static_cast<ssize_t>(secret.size())) {
    return InternalError(std::string("getrandom failed: ") + std::strerror(errno));
  }
  // Write to a temporary file and link it into place: a crash never leaves a short secret, and of
  // two processes racing to create it, both end up using the one that won.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError(ErrnoMessage("cannot create", tmp));
  bool ok = ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return UnavailableError(ErrnoMessage("cannot write", tmp));
  }
  int linked = ::link(tmp.c_str(), path.c_str());
  int link_errno = errno;
  ::unlink(tmp.c_str());
  if (linked != 0 && link_errno != EEXIST) {
    errno = link_errno;
    return UnavailableError(ErrnoMessage("cannot install deployment secret", path));
  }
  if (linked != 0) DEJA_RETURN_IF_ERROR(ReadSecret(path, &secret));  // lost the race
  return secret;
}

TenantScope ScopeForCredential(const DeploymentSecret& secret, std::string_view credential) {
  Blake3 h = Blake3::Keyed(secret.data());
  h.Update(credential);
  TenantScope scope;
  scope.bytes = h.Finalize();
  return scope;
}

std::string_view CredentialFromHeaders(std::string_view authorization, std::string_view x_api_key) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() > kBearer.size() &&
      std::equal(kBearer.begin(), kBearer.end(), authorization.begin(),
                 [](char a, char b) { return (a | 0x20) == (b | 0x20); })) {
    return authorization.substr(kBearer.size());
  }
  if (!authorization.empty()) return authorization;
  return x_api_key;
}

CacheKey ComputeKey(const TenantScope& scope, std::string_view name_space, Route route,
                    const NormalizedRequest& request) {
  static const Blake3 kBase = Blake3::DeriveKey("deja cache key v1");
  Blake3 h = kBase;
  uint8_t version[4];
  for (int i = 0; i < 4; ++i) version[i] = static_cast<uint8_t>(kKeySchemaVersion >> (8 * i));
  h.Update(version, sizeof version);
  h.Update(scope.bytes.data(), scope.bytes.size());
  UpdateFramed(h, name_space);
  UpdateFramed(h, RoutePath(route));
  UpdateFramed(h, request.keyed_headers);
  UpdateFramed(h, request.canonical);
  CacheKey key;
  key.bytes = h.Finalize();
  return key;
}

}  // namespace deja
