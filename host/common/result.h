// Checked results (osquery's Status/Expected): errors are values carrying a one-line message
// with context, and the compiler warns when a result is ignored.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

// Returns the Status of `expr` (a Status) from the enclosing function when it is an error.
#define GALE_TRY(expr)                                   \
  do {                                                   \
    if (::gale::Status gale_try_ = (expr); !gale_try_) { \
      return gale_try_;                                  \
    }                                                    \
  } while (false)

// Evaluates `expr` (a Result<T>): when it holds an error, returns that Status from the enclosing
// function; otherwise moves its value into `lhs`, a declaration (`auto user`) or an lvalue.
//   GALE_ASSIGN_OR_RETURN(auto user, ResolveUser(name));
#define GALE_ASSIGN_OR_RETURN(lhs, expr) \
  GALE_ASSIGN_OR_RETURN_IMPL_(GALE_RESULT_CONCAT_(gale_result_, __LINE__), lhs, expr)
#define GALE_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                \
  if (!result.ok()) return result.status();            \
  lhs = std::move(result).value()
#define GALE_RESULT_CONCAT_(a, b) GALE_RESULT_CONCAT_INNER_(a, b)
#define GALE_RESULT_CONCAT_INNER_(a, b) a##b

namespace gale {

namespace result_internal {
// A Result read as a value while it holds an error (or built as an error from an ok Status) is a
// bug: stop here, in every build, with what the error said, rather than read an empty optional.
[[noreturn]] inline void Misuse(const char* what, const std::string& message) {
  std::fprintf(stderr, "gale: %s: %s\n", what, message.c_str());
  std::fflush(stderr);
  std::abort();
}
}  // namespace result_internal

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
    if (status_.ok()) result_internal::Misuse("a Result built from an ok Status", "no value");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }
  const std::string& message() const { return status_.message(); }

  T& value() & {
    Check();
    return *value_;
  }
  const T& value() const& {
    Check();
    return *value_;
  }
  T&& value() && {
    Check();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void Check() const {
    if (!value_) result_internal::Misuse("value() of a Result holding an error", status_.message());
  }

  std::optional<T> value_;
  Status status_;
};

}  // namespace gale
