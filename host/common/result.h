// Checked results (osquery's Status/Expected): errors are values carrying a one-line message
// with context, and the compiler warns when a result is ignored.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace gale {

class [[nodiscard]] Status {
 public:
  static Status Ok() { return Status(); }
  // `retryable` tells the caller that trying again later may succeed (a store or broker that is
  // unreachable), as opposed to a permanent error (bad input).
  static Status Error(std::string message, bool retryable = false) {
    Status s;
    s.error_ = std::move(message);
    s.retryable_ = retryable;
    return s;
  }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const std::string& message() const {
    static const std::string kEmpty;
    return error_ ? *error_ : kEmpty;
  }
  bool retryable() const { return retryable_; }

  // Prefix the message with context, e.g. the file being read.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Error(context + ": " + *error_, retryable_);
  }

 private:
  std::optional<std::string> error_;
  bool retryable_ = false;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status error) : status_(std::move(error)) {
    assert(!status_.ok() && "a Result built from a Status must carry an error");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }
  const std::string& message() const { return status_.message(); }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace gale
