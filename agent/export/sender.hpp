// The one `send` shape shared by the export layers (retry_sender, http_sender), and the single
// classification of what happened to a request.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace spanring::agent {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

// Decided once, where the answer is read (response.hpp, http_sender.cpp); upper layers act on the
// class only.
enum class SendClass {
  kOk,         // delivered (2xx); rejected_spans > 0 = partial success, which is final
  kRetryable,  // transient: connection failure, timeout, 502/504, 429/503 without Retry-After
  kThrottled,  // transient, and the server asked for at least `retry_after` before the next try
  kPermanent,  // retrying cannot help: drop
};

struct SendResult {
  SendClass cls = SendClass::kOk;
  int http_status = 0;  // 0 when no answer was read
  std::string message;  // why, for logs; the server's message when it sent one
  std::chrono::nanoseconds retry_after{};  // kThrottled only
  std::uint64_t rejected_spans = 0;        // kOk only
  // Filled by the retry layer: attempts made, and whether it stopped early because it was told to
  // stop (shutdown) rather than because the failure was final or time ran out.
  std::uint32_t attempts = 1;
  bool stopped = false;
};

using SendCallback = std::function<void(SendResult)>;

class Sender {
 public:
  virtual ~Sender() = default;
  // Sends one request; `done` is called exactly once, always from the executor, never inside
  // send(). One request at a time: send() is only called again after `done` ran.
  virtual void send(std::shared_ptr<const HttpRequest> request, SendCallback done) = 0;
  // Ends the current request soon (an attempt is aborted, a wait cut short); it completes with
  // a kRetryable result and `stopped` set. No-op when idle.
  virtual void cancel() = 0;
};

}  // namespace spanring::agent
