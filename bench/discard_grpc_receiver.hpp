// An OTLP/gRPC endpoint for benchmarks: the generated TraceService with its Export method taken
// raw (WithRawCallbackMethod_Export: the request stays a ByteBuffer), so, like DiscardReceiver for
// HTTP, it decodes nothing and answers OK with an empty ExportTraceServiceResponse. It runs on
// gRPC's own threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace spanring::bench {

class DiscardGrpcReceiver final
    : public opentelemetry::proto::collector::trace::v1::TraceService::WithRawCallbackMethod_Export<
          opentelemetry::proto::collector::trace::v1::TraceService::Service> {
 public:
  // `delay` > 0: every answer is sent that long after the request arrived (a distant backend),
  // from a timer thread of its own, so no gRPC thread sleeps and any number of calls overlap.
  explicit DiscardGrpcReceiver(std::chrono::milliseconds delay = std::chrono::milliseconds(0)) : delay_(delay) {
    if (delay_.count() > 0) timer_ = std::thread([this] { run_timer(); });
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetMaxReceiveMessageSize(256 << 20);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0) throw std::runtime_error("gRPC discard receiver cannot listen");
    port_ = port;
  }
  ~DiscardGrpcReceiver() override {
    if (timer_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
      }
      cv_.notify_one();
      timer_.join();  // finishes every call still waiting
    }
    server_->Shutdown();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::uint64_t bytes() const { return bytes_.load(); }

  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    bytes_ += request->Length();
    // Zero bytes: an empty ExportTraceServiceResponse. A ByteBuffer without a slice is not a message.
    grpc::Slice empty;
    *response = grpc::ByteBuffer(&empty, 1);
    auto* reactor = context->DefaultReactor();
    if (delay_.count() == 0) {
      reactor->Finish(grpc::Status::OK);
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      waiting_.emplace_back(std::chrono::steady_clock::now() + delay_, reactor);
      cv_.notify_one();
    }
    return reactor;
  }

 private:
  // Answers the waiting calls in arrival order, each at its time (one delay for all: FIFO).
  void run_timer() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
      if (waiting_.empty()) return;  // stopping, nothing left
      const auto [due, reactor] = waiting_.front();
      if (!stopping_ && std::chrono::steady_clock::now() < due) {
        cv_.wait_until(lock, due);
        continue;
      }
      waiting_.pop_front();
      lock.unlock();
      reactor->Finish(grpc::Status::OK);
      lock.lock();
    }
  }

  std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, grpc::ServerUnaryReactor*>> waiting_;
  bool stopping_ = false;
  std::thread timer_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<std::uint64_t> bytes_{0};
};

}  // namespace spanring::bench
