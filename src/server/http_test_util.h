// Test-only helpers for driving HTTP over raw loopback sockets: a listener on a free port, a client
// connection, and minimal request/response readers. Plain POSIX so the tests stay free of Boost
// (compile time). Every socket gets a receive timeout so a broken test fails instead of hanging.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>

namespace deja::server::testing {

constexpr int kIoTimeoutSeconds = 10;

inline void SetTimeouts(int fd) {
  timeval tv{kIoTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A socket listening on 127.0.0.1 at a kernel-chosen port.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0) {
      std::abort();
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { Close(); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int port() const { return port_; }

  // Blocks until a client connects; -1 once Shutdown() was called.
  int Accept() {
    int fd = ::accept(fd_, nullptr, nullptr);
    if (fd >= 0) SetTimeouts(fd);
    return fd;
  }

  // Wakes a blocked Accept() (Linux: shutdown on a listening socket fails pending accepts).
  void Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Connects to 127.0.0.1:port; -1 if refused.
inline int ConnectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  SetTimeouts(fd);
  return fd;
}

inline bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Appends whatever arrives next to *buf. False on EOF, error or timeout.
inline bool ReadMore(int fd, std::string* buf) {
  char tmp[16384];
  ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf->append(tmp, static_cast<size_t>(n));
  return true;
}

inline std::string Lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Value of a header in a raw head ("" if absent); name must be lower case.
inline std::string HeadValue(const std::string& head, std::string_view name) {
  std::string lower = Lowered(head);
  size_t pos = lower.find("\r\n" + std::string(name) + ":");
  if (pos == std::string::npos) return "";
  pos += 3 + name.size();
  size_t end = head.find("\r\n", pos);
  std::string v = head.substr(pos, end - pos);
  while (!v.empty() && v.front() == ' ') v.erase(v.begin());
  return v;
}

struct RawResponse {
  bool complete = false;  // a whole response was read
  int status = 0;
  std::string head;  // status line and fields, without the blank line
  std::string body;  // de-chunked
};

// Reads one response from fd; bytes after it stay in *buf. Handles Content-Length, chunked and
// read-until-close bodies. `head_only` for responses that carry no body (100 Continue, HEAD).
inline RawResponse ReadResponse(int fd, std::string* buf, bool head_only = false) {
  RawResponse r;
  size_t end;
  while ((end = buf->find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(fd, buf)) return r;
  }
  r.head = buf->substr(0, end);
  buf->erase(0, end + 4);
  if (r.head.size() >= 12) r.status = std::atoi(r.head.c_str() + 9);
  if (head_only || r.status == 204 || r.status == 304 || r.status / 100 == 1) {
    r.complete = true;
    return r;
  }
  std::string te = Lowered(HeadValue(r.head, "transfer-encoding"));
  std::string cl = HeadValue(r.head, "content-length");
  if (te.find("chunked") != std::string::npos) {
    for (;;) {
      size_t line;
      while ((line = buf->find("\r\n")) == std::string::npos) {
        if (!ReadMore(fd, buf)) return r;
      }
      size_t size = std::strtoul(buf->c_str(), nullptr, 16);
      if (size == 0) {  // Last chunk; no trailers expected.
        while (buf->size() < line + 4) {
          if (!ReadMore(fd, buf)) return r;
        }
        buf->erase(0, line + 4);
        r.complete = true;
        return r;
      }
      while (buf->size() < line + 2 + size + 2) {
        if (!ReadMore(fd, buf)) return r;
      }
      r.body += buf->substr(line + 2, size);
      buf->erase(0, line + 2 + size + 2);
    }
  }
  if (!cl.empty()) {
    size_t n = std::strtoul(cl.c_str(), nullptr, 10);
    while (buf->size() < n) {
      if (!ReadMore(fd, buf)) return r;
    }
    r.body = buf->substr(0, n);
    buf->erase(0, n);
    r.complete = true;
    return r;
  }
  while (ReadMore(fd, buf)) {
  }
  r.body = std::move(*buf);
  buf->clear();
  r.complete = true;
  return r;
}

// Reads one request (head + Content-Length body) from fd; "" on EOF before a whole request.
inline std::string ReadRequest(int fd, std::string* buf) {
  size_t end;
  while ((end = buf->find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(fd, buf)) return "";
  }
  std::string head = buf->substr(0, end + 4);
  size_t n = std::strtoul(HeadValue(head, "content-length").c_str(), nullptr, 10);
  while (buf->size() < end + 4 + n) {
    if (!ReadMore(fd, buf)) return "";
  }
  std::string req = buf->substr(0, end + 4 + n);
  buf->erase(0, end + 4 + n);
  return req;
}

// True once the peer has closed fd (EOF or reset), waiting at most the I/O timeout.
inline bool PeerClosed(int fd) {
  char tmp[4096];
  for (;;) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

}  // namespace deja::server::testing
