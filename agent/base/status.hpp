// The one error shape at the agent's boundaries (command line, exporters, the metrics
// endpoint): a code a caller can branch on and a message an operator can act on, already naming
// the option, key, file or address. Nothing thrown crosses a boundary; validation of a config
// section reports each broken rule through a ValidationReport, which the loader turns into
// `file:line:col: section.key: problem`.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace spanring::agent {

class Status {
 public:
  enum class Code { kOk = 0, kInvalidArgument, kUnavailable };

  Status() = default;  // ok
  static Status invalid(std::string message) { return Status(Code::kInvalidArgument, std::move(message)); }
  static Status unavailable(std::string message) { return Status(Code::kUnavailable, std::move(message)); }

  bool ok() const noexcept { return code_ == Code::kOk; }
  Code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// One broken rule of a config section: the keys it concerns (relative to the section) and the
// problem.
using ValidationReport = std::function<void(std::initializer_list<std::string_view> keys, const std::string& problem)>;

}  // namespace spanring::agent
