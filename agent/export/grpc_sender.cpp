#include "agent/export/grpc_sender.hpp"

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <boost/asio/post.hpp>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <grpc/support/log.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <mutex>

#include "agent/base/log.hpp"
#include <optional>
#include <utility>

namespace spanring::agent {

namespace asio = boost::asio;

// SPEC §1.1 / §3; the test receiver serves it through the generated TraceService::Service.
constexpr const char* kExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

struct GrpcSender::Call {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  grpc::Status status;
};

// What gRPC's callback thread may touch: the executor to post to, cleared (under the mutex) when
// the sender goes away, so a late callback never posts to a dead sender.
struct GrpcSender::Link {
  std::mutex mutex;
  std::optional<asio::any_io_executor> executor;
  std::weak_ptr<GrpcSender> sender;
  std::unique_ptr<grpc::GenericStub> stub;
};

namespace {

std::string target_of(const HttpUrl& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  return (v6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
}

std::string lowered(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; } — decoded by hand, one
// field: the googleapis error_details.proto is not part of this build.
std::optional<std::chrono::nanoseconds> retry_delay(const std::string& details) {
  google::rpc::Status status;
  if (details.empty() || !status.ParseFromString(details)) return std::nullopt;
  for (const auto& any : status.details()) {
    if (!any.type_url().ends_with("/google.rpc.RetryInfo")) continue;
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(any.value().data()),
                                              static_cast<int>(any.value().size()));
    std::optional<std::chrono::nanoseconds> delay;
    for (std::uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
      if (tag != ((1u << 3) | 2u)) {
        if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) return std::nullopt;
        continue;
      }
      std::string bytes;
      std::uint32_t size = 0;
      if (!in.ReadVarint32(&size) || !in.ReadString(&bytes, static_cast<int>(size))) return std::nullopt;
      google::protobuf::Duration d;
      if (!d.ParseFromString(bytes) || d.seconds() < 0 || d.nanos() < 0) return std::nullopt;
      // Clamped like Retry-After (response.hpp): max_elapsed_time turns a huge one into a give-up.
      const std::int64_t seconds = std::min<std::int64_t>(d.seconds(), 1'000'000'000);
      delay = std::chrono::seconds{seconds} + std::chrono::nanoseconds{d.nanos()};
    }
    return delay;
  }
  return std::nullopt;
}

// gRPC logs every failed connection attempt (a refused connection, each failed TLS handshake)
// at ERROR on stderr, from its own threads: a backend down for an hour would flood the journal.
// The sender reports those failures itself, rate-limited; gRPC's own lines become debug lines of
// the agent's log (escaped and levelled like the others).
void route_grpc_log_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    gpr_set_log_function([](gpr_log_func_args* args) { SPANRING_LOG_DEBUG("grpc: %s", args->message); });
  });
}

const char* code_name(int code) {
  static constexpr const char* kNames[] = {"OK",        "CANCELLED",         "UNKNOWN",         "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                           "UNIMPLEMENTED", "INTERNAL",  "UNAVAILABLE",     "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN_CODE";
}

}  // namespace

SendResult classify_grpc_status(int code, const std::string& message, const std::string& error_details,
                                const std::string& response) {
  SendResult r;
  if (code == grpc::StatusCode::OK) {
    r.cls = SendClass::kOk;
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse decoded;
    if (!decoded.ParseFromString(response)) {
      r.message = "success with an undecodable response (ignored)";
    } else if (decoded.has_partial_success()) {
      const auto& partial = decoded.partial_success();
      r.rejected_spans = partial.rejected_spans() > 0 ? static_cast<std::uint64_t>(partial.rejected_spans()) : 0;
      r.message = partial.error_message();
    }
    return r;
  }
  r.message = std::string(code_name(code)) + (message.empty() ? "" : ": " + message);
  const auto delay = retry_delay(error_details);
  switch (code) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      r.cls = SendClass::kRetryable;
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      r.cls = delay ? SendClass::kRetryable : SendClass::kPermanent;
      break;
    default:
      r.cls = SendClass::kPermanent;
      return r;
  }
  if (delay) {
    r.cls = SendClass::kThrottled;
    r.retry_after = *delay;
  }
  return r;
}

GrpcSender::GrpcSender(asio::any_io_executor executor, GrpcSenderOptions options)
    : options_(std::move(options)), executor_(executor), link_(std::make_shared<Link>()) {
  route_grpc_log_once();
  grpc::ChannelArguments args;
  // The retry layer above decides every retry; gRPC's transparent retries would hide attempts
  // from the accounting, and its default reconnect backoff (up to 120 s) would keep a recovered
  // backend unused long after our own backoff says to try again.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(4 << 20);  // SPEC §2.1's response limit, as on HTTP
  args.SetUserAgentPrefix(options_.user_agent);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options_.url.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.root_certs;
    ssl.pem_cert_chain = options_.client_cert;
    ssl.pem_private_key = options_.client_key;
    credentials = grpc::SslCredentials(ssl);
    if (!options_.server_name.empty()) args.SetSslTargetNameOverride(options_.server_name);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  link_->stub = std::make_unique<grpc::GenericStub>(grpc::CreateCustomChannel(target_of(options_.url), credentials, args));
  link_->executor = executor;
}

GrpcSender::~GrpcSender() {
  if (call_) call_->context.TryCancel();
  std::lock_guard lock(link_->mutex);
  link_->executor.reset();
}

void GrpcSender::send(ExportPayload payload, SendCallback done) {
  {
    std::lock_guard lock(link_->mutex);
    if (link_->sender.expired()) link_->sender = weak_from_this();
  }
  done_ = std::move(done);
  cancelled_ = false;
  const std::uint64_t generation = ++generation_;
  auto call = std::make_shared<Call>();
  call_ = call;
  if (options_.timeout.count() > 0) {
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::duration_cast<std::chrono::system_clock::duration>(options_.timeout));
  }
  if (options_.compression == Compression::kGzip) call->context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  for (const auto& [name, value] : options_.headers) call->context.AddMetadata(lowered(name), value);
  // The payload's bytes become the message as they are (no parse, no copy): the slice keeps a
  // reference to the payload until gRPC is done with it.
  auto* keep = new ExportPayload(payload);
  grpc::Slice slice(const_cast<char*>((*keep)->data()), (*keep)->size(),
                    [](void* p) { delete static_cast<ExportPayload*>(p); }, keep);
  call->request = grpc::ByteBuffer(&slice, 1);
  link_->stub->UnaryCall(&call->context, kExportMethod, grpc::StubOptions(), &call->request, &call->response,
                         [link = link_, call, generation](grpc::Status status) {
                           call->status = std::move(status);
                           std::lock_guard lock(link->mutex);
                           if (!link->executor) return;
                           asio::post(*link->executor, [weak = link->sender, call, generation] {
                             if (auto self = weak.lock()) self->on_done(generation, *call);
                           });
                         });
}

void GrpcSender::cancel() {
  if (!call_) return;
  cancelled_ = true;
  call_->context.TryCancel();
}

void GrpcSender::close() { cancel(); }

void GrpcSender::on_done(std::uint64_t generation, Call& call) {
  if (generation != generation_ || !call_) return;
  const grpc::Status& status = call.status;
  std::string response;
  if (status.ok()) {
    grpc::Slice flat;
    if (call.response.TrySingleSlice(&flat).ok()) {
      response.assign(reinterpret_cast<const char*>(flat.begin()), flat.size());
    } else if (call.response.DumpToSingleSlice(&flat).ok()) {
      response.assign(reinterpret_cast<const char*>(flat.begin()), flat.size());
    }
  }
  SendResult r = classify_grpc_status(status.error_code(), status.error_message(), status.error_details(), response);
  if (cancelled_ && status.error_code() == grpc::StatusCode::CANCELLED) {
    r.cls = SendClass::kRetryable;
    r.message = "aborted";
    r.stopped = true;
  } else if (r.cls != SendClass::kOk) {
    r.message = "gRPC " + target_of(options_.url) + ": " + r.message;
    // gRPC has no TLS status of its own; its TLS layer's words say it.
    const std::string& m = status.error_message();
    if (options_.url.tls && status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        (m.find("andshake") != std::string::npos || m.find("certificate") != std::string::npos ||
         m.find("CERTIFICATE") != std::string::npos)) {
      handshake_log_.log(LogLevel::kWarn, "export: TLS handshake failed: %s (retried like a connection error)",
                         r.message.c_str());
    }
  }
  call_.reset();
  finish(std::move(r));
}

void GrpcSender::finish(SendResult result) {
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

}  // namespace spanring::agent
