// Status and StatusOr<T>: deja's single error model.
//
// Every fallible operation in libdeja returns a Status (or a StatusOr<T> carrying a value on
// success). No exceptions cross module boundaries. A Status carries a code a caller can branch on
// and a message a user can act on.
//
//   deja::StatusOr<Value> v = json::Parse(text);
//   if (!v.ok()) return v.status();
//   Use(*v);
//
// Thread safety: Status and StatusOr are values; distinct objects may be used concurrently.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace deja {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // Bad input: malformed JSON, bad option.
  kNotFound,         // No such entry (a cache miss is NotFound).
  kAlreadyExists,
  kResourceExhausted,  // A size or depth limit was exceeded; store full.
  kFailedPrecondition,
  kOutOfRange,
  kUnavailable,  // A dependency (store, upstream) cannot be reached.
  kDeadlineExceeded,
  kDataLoss,  // Stored data is corrupt.
  kPermissionDenied,
  kCancelled,
  kUnimplemented,
  kInternal,
};

// Human-readable name of a code, e.g. "INVALID_ARGUMENT".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK.
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: message" (or "OK").
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgumentError(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status NotFoundError(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status ResourceExhaustedError(std::string m) {
  return Status(StatusCode::kResourceExhausted, std::move(m));
}
inline Status FailedPreconditionError(std::string m) {
  return Status(StatusCode::kFailedPrecondition, std::move(m));
}
inline Status UnavailableError(std::string m) {
  return Status(StatusCode::kUnavailable, std::move(m));
}
inline Status DeadlineExceededError(std::string m) {
  return Status(StatusCode::kDeadlineExceeded, std::move(m));
}
inline Status DataLossError(std::string m) { return Status(StatusCode::kDataLoss, std::move(m)); }
inline Status InternalError(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
inline Status OutOfRangeError(std::string m) {
  return Status(StatusCode::kOutOfRange, std::move(m));
}
inline Status PermissionDeniedError(std::string m) {
  return Status(StatusCode::kPermissionDenied, std::move(m));
}
inline Status CancelledError(std::string m) { return Status(StatusCode::kCancelled, std::move(m)); }

// Holds either a T or a non-OK Status. Constructing from an OK Status is a programming error.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const T& value) : rep_(value) {}            // NOLINT: implicit by design.
  StatusOr(T&& value) : rep_(std::move(value)) {}      // NOLINT
  StatusOr(Status status) : rep_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(rep_).ok() && "StatusOr built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(rep_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(rep_); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(rep_); }
  const T& value() const& { return std::get<T>(rep_); }
  T&& value() && { return std::get<T>(std::move(rep_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> rep_;
};

}  // namespace deja

#define DEJA_STATUS_CONCAT_INNER_(a, b) a##b
#define DEJA_STATUS_CONCAT_(a, b) DEJA_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (a Status) is not OK.
#define DEJA_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::deja::Status deja_status_ = (expr);        \
    if (!deja_status_.ok()) return deja_status_; \
  } while (0)

// `lhs = *expr` if `expr` (a StatusOr) is OK, else returns its status.
#define DEJA_ASSIGN_OR_RETURN(lhs, expr)                           \
  auto DEJA_STATUS_CONCAT_(deja_statusor_, __LINE__) = (expr);     \
  if (!DEJA_STATUS_CONCAT_(deja_statusor_, __LINE__).ok())         \
    return DEJA_STATUS_CONCAT_(deja_statusor_, __LINE__).status(); \
  lhs = std::move(*DEJA_STATUS_CONCAT_(deja_statusor_, __LINE__))
