// An OTLP/gRPC endpoint for benchmarks: the generated TraceService with its Export method taken
// raw (WithRawCallbackMethod_Export: the request stays a ByteBuffer), so, like DiscardReceiver for
// HTTP, it decodes nothing and answers OK with an empty ExportTraceServiceResponse. It runs on
// gRPC's own threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace spanring::bench {

class DiscardGrpcReceiver final
    : public opentelemetry::proto::collector::trace::v1::TraceService::WithRawCallbackMethod_Export<
          opentelemetry::proto::collector::trace::v1::TraceService::Service> {
 public:
  DiscardGrpcReceiver() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetMaxReceiveMessageSize(256 << 20);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0) throw std::runtime_error("gRPC discard receiver cannot listen");
    port_ = port;
  }
  ~DiscardGrpcReceiver() override { server_->Shutdown(); }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::uint64_t bytes() const { return bytes_.load(); }

  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    bytes_ += request->Length();
    // Zero bytes: an empty ExportTraceServiceResponse. A ByteBuffer without a slice is not a message.
    grpc::Slice empty;
    *response = grpc::ByteBuffer(&empty, 1);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<std::uint64_t> bytes_{0};
};

}  // namespace spanring::bench
