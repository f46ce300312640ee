// Status and Result<T>: the one error vocabulary of Cairn.
//
// A Status is OK or carries a canonical code plus a human message. Library
// exceptions (yaml-cpp, Boost, librdkafka errors) are caught where we call
// the library and turned into a Status whose message names the place
// (file:line:col) or the broker error. Retryable() tells a caller whether the
// same call may succeed later (broker down, timeout) or never will.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace cairn {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the input is wrong; permanent
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // create of something present
  kFailedPrecondition,  // the system is not in a state to do this
  kResourceExhausted,   // a limit was hit (size, depth, queue)
  kUnavailable,         // a peer (broker, disk) is down; retryable
  kDeadlineExceeded,    // timed out; outcome unknown, retryable
  kCancelled,           // stopped on request
  kDataLoss,            // stored data is corrupt
  kInternal,            // a bug or an unexpected library failure
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // True when trying again later may succeed.
  bool retryable() const {
    return code_ == StatusCode::kUnavailable || code_ == StatusCode::kDeadlineExceeded ||
           code_ == StatusCode::kResourceExhausted;
  }
  // "CODE: message", or "OK".
  std::string ToString() const;

  // Returns this status with `context + ": "` put before its message.
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }

// Result<T> holds a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace cairn

// Returns early from the enclosing function when `expr` is not OK.
#define CAIRN_RETURN_IF_ERROR(expr)      \
  do {                                   \
    ::cairn::Status _cairn_s = (expr);   \
    if (!_cairn_s.ok()) return _cairn_s; \
  } while (0)
