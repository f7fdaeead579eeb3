#include "semantic/index_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace deja::vindex {
namespace {

static_assert(std::endian::native == std::endian::little, "index files are little-endian");

constexpr char kMagic[8] = {'D', 'E', 'J', 'A', 'V', 'I', 'X', '\0'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderLen = 24;
constexpr size_t kTrailerLen = 8 + Blake3::kOutLen;
constexpr size_t kBufLen = size_t{1} << 20;

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

Status WriteAll(int fd, const uint8_t* p, size_t len, const std::string& path) {
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return UnavailableError(Errno("write", path));
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

std::string IndexFileWriter::ScratchPath(const std::string& path, const char* what) {
  static std::atomic<uint64_t> counter{0};
  return path + "." + what + "." + std::to_string(::getpid()) + "." +
         std::to_string(counter.fetch_add(1));
}

IndexFileWriter::IndexFileWriter(std::string path, std::string tmp, int fd)
    : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {
  buf_.reserve(kBufLen);
}

IndexFileWriter::~IndexFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

StatusOr<std::unique_ptr<IndexFileWriter>> IndexFileWriter::Create(const std::string& path,
                                                                   IndexKind kind,
                                                                   uint32_t dimensions) {
  std::string tmp = ScratchPath(path, "tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return UnavailableError(Errno("cannot create", tmp));
  std::unique_ptr<IndexFileWriter> w(new IndexFileWriter(path, tmp, fd));
  uint8_t header[kHeaderLen] = {};
  std::memcpy(header, kMagic, 8);
  const uint32_t fields[4] = {kFormatVersion, static_cast<uint32_t>(kind), dimensions, 0};
  std::memcpy(header + 8, fields, sizeof fields);
  w->hash_.Update(header, sizeof header);
  DEJA_RETURN_IF_ERROR(WriteAll(fd, header, sizeof header, tmp));
  return w;
}

Status IndexFileWriter::Flush() {
  if (buf_.empty()) return Status::Ok();
  hash_.Update(buf_.data(), buf_.size());
  Status s = WriteAll(fd_, buf_.data(), buf_.size(), tmp_);
  buf_.clear();
  return s;
}

Status IndexFileWriter::Write(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  payload_len_ += len;
  while (len > 0) {
    size_t n = std::min(len, kBufLen - buf_.size());
    buf_.insert(buf_.end(), p, p + n);
    p += n;
    len -= n;
    if (buf_.size() == kBufLen) DEJA_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

Status IndexFileWriter::AppendFile(const std::string& other_path) {
  int fd = ::open(other_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return UnavailableError(Errno("cannot open", other_path));
  std::vector<uint8_t> chunk(kBufLen);
  Status status;
  for (;;) {
    ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = UnavailableError(Errno("read", other_path));
      break;
    }
    if (n == 0) break;
    status = Write(chunk.data(), static_cast<size_t>(n));
    if (!status.ok()) break;
  }
  ::close(fd);
  return status;
}

Status IndexFileWriter::Commit() {
  DEJA_RETURN_IF_ERROR(Flush());
  uint8_t trailer[kTrailerLen];
  std::memcpy(trailer, &payload_len_, 8);
  hash_.Update(trailer, 8);
  hash_.Finalize(trailer + 8, Blake3::kOutLen);
  DEJA_RETURN_IF_ERROR(WriteAll(fd_, trailer, sizeof trailer, tmp_));
  if (::fsync(fd_) != 0) return UnavailableError(Errno("fsync", tmp_));
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    return UnavailableError(Errno("rename to " + path_ + " from", tmp_));
  }
  committed_ = true;
  // The rename is durable only once the directory entry is.
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  const std::filesystem::path dir = parent.empty() ? std::filesystem::path(".") : parent;
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

IndexFileReader::~IndexFileReader() {
  if (map_ != nullptr) ::munmap(map_, map_len_);
}

StatusOr<std::unique_ptr<IndexFileReader>> IndexFileReader::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("no index file " + path);
    return UnavailableError(Errno("cannot open", path));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status s = UnavailableError(Errno("stat", path));
    ::close(fd);
    return s;
  }
  const size_t len = static_cast<size_t>(st.st_size);
  if (len < kHeaderLen + kTrailerLen) {
    ::close(fd);
    return DataLossError("index file " + path + " is truncated (" + std::to_string(len) +
                         " bytes)");
  }
  void* map = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return UnavailableError(Errno("mmap", path));
  std::unique_ptr<IndexFileReader> r(new IndexFileReader());
  r->map_ = map;
  r->map_len_ = len;
  // Hashing reads the file front to back once; tell the kernel so it reads ahead.
  ::madvise(map, len, MADV_SEQUENTIAL);
  const auto* bytes = static_cast<const uint8_t*>(map);

  if (std::memcmp(bytes, kMagic, 8) != 0) {
    return DataLossError(path + " is not a deja index file (bad magic)");
  }
  uint32_t fields[4];
  std::memcpy(fields, bytes + 8, sizeof fields);
  const uint8_t* trailer = bytes + len - kTrailerLen;
  uint64_t payload_len;
  std::memcpy(&payload_len, trailer, 8);
  if (payload_len != len - kHeaderLen - kTrailerLen) {
    return DataLossError("index file " + path + " is truncated or has trailing bytes");
  }
  Blake3 h;
  h.Update(bytes, len - Blake3::kOutLen);
  uint8_t digest[Blake3::kOutLen];
  h.Finalize(digest, sizeof digest);
  if (std::memcmp(digest, trailer + 8, sizeof digest) != 0) {
    return DataLossError("index file " + path + " is corrupt (checksum mismatch)");
  }
  if (fields[0] != kFormatVersion) {
    return DataLossError("index file " + path + " has unsupported format version " +
                         std::to_string(fields[0]));
  }
  if (fields[1] != static_cast<uint32_t>(IndexKind::kFlat) &&
      fields[1] != static_cast<uint32_t>(IndexKind::kHnsw) &&
      fields[1] != static_cast<uint32_t>(IndexKind::kIvfPq) &&
      fields[1] != static_cast<uint32_t>(IndexKind::kSemanticCache)) {
    return DataLossError("index file " + path + " has unknown kind " + std::to_string(fields[1]));
  }
  r->kind_ = static_cast<IndexKind>(fields[1]);
  r->dimensions_ = fields[2];
  r->payload_ = std::span<const uint8_t>(bytes + kHeaderLen, payload_len);
  ::madvise(map, len, MADV_NORMAL);
  return r;
}

Status IndexFileReader::Read(void* out, size_t len) {
  DEJA_ASSIGN_OR_RETURN(std::span<const uint8_t> s, Take(len));
  if (len > 0) std::memcpy(out, s.data(), len);
  return Status::Ok();
}

StatusOr<std::span<const uint8_t>> IndexFileReader::Take(size_t len) {
  if (len > remaining()) {
    return DataLossError("index payload is shorter than its contents say");
  }
  std::span<const uint8_t> s = payload_.subspan(pos_, len);
  pos_ += len;
  return s;
}

}  // namespace deja::vindex
