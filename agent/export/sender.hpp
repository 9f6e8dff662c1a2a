// The one `send` shape shared by the export layers (retry_sender, and one attempt per protocol:
// http_sender for OTLP/HTTP protobuf and JSON, grpc_sender for OTLP/gRPC), and the single
// classification of what happened to a request.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace spanring::agent {

// What a sender sends: one serialized, uncompressed ExportTraceServiceRequest. Protocol-agnostic
// on purpose: each attempt sender does its own framing, JSON conversion, compression and headers,
// so the layers above (retry, queue, in-flight pipeline) never know the protocol. Shared and
// immutable, so a retry resends the same bytes and several senders may hold it.
using ExportPayload = std::shared_ptr<const std::string>;

// Decided once, where the answer is read (response.hpp, http_sender.cpp, grpc_sender.cpp); upper
// layers act on the class only.
enum class SendClass {
  kOk,         // delivered (2xx); rejected_spans > 0 = partial success, which is final
  kRetryable,  // transient: connection or TLS handshake failure, timeout, 502/504, 429/503
               // without Retry-After, the gRPC codes SPEC §3 marks retryable
  kThrottled,  // transient, and the server asked for at least `retry_after` (Retry-After,
               // google.rpc.RetryInfo) before the next try
  kPermanent,  // retrying cannot help: drop
};

struct SendResult {
  SendClass cls = SendClass::kOk;
  int http_status = 0;  // 0 when no answer was read; the HTTP status (gRPC: 0, see message)
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
  virtual void send(ExportPayload request, SendCallback done) = 0;
  // Ends the current request soon (an attempt is aborted, a wait cut short); it completes with
  // a kRetryable result and `stopped` set. No-op when idle.
  virtual void cancel() = 0;
  // Drops the connection (aborting a request in flight, as cancel() does): before the sender is
  // abandoned, so that nothing stays open.
  virtual void close() = 0;
};

}  // namespace spanring::agent
