#include "agent/control/tap_exporter.hpp"

#include <utility>

namespace spanring::agent::control {

std::string tap_bytes(const ExportBatch& batch) { return batch.body; }

namespace {

class TapExporter final : public Exporter {
 public:
  TapExporter(std::unique_ptr<Exporter> inner, ControlServer& server) : inner_(std::move(inner)), server_(server) {}

  bool enqueue(ExportBatch batch) override {
    if (!server_.tapping()) return inner_->enqueue(std::move(batch));
    // Copied before the exporter takes the batch, published only if it accepted it: a client
    // sees what goes to the backend, not what the queue refused.
    std::string bytes = tap_bytes(batch);
    const std::uint64_t spans = batch.spans;
    if (!inner_->enqueue(std::move(batch))) return false;
    server_.publish(std::move(bytes), spans);
    return true;
  }
  void shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override {
    inner_->shutdown(deadline, std::move(done));
  }
  std::uint64_t queued_spans() const override { return inner_->queued_spans(); }
  std::uint64_t queued_bytes() const override { return inner_->queued_bytes(); }
  // Everything else is the inner exporter's: a wrapper that kept a default here would change the
  // delivery rule (holds_batches false: rings wait for the backend's answer) or hide the queue.
  std::size_t queued_batches() const override { return inner_->queued_batches(); }
  std::size_t in_flight() const override { return inner_->in_flight(); }
  std::uint64_t corrupt_records() const override { return inner_->corrupt_records(); }
  bool holds_batches() const override { return inner_->holds_batches(); }
  void sync() override { inner_->sync(); }
  std::vector<ServiceCount> resumed() const override { return inner_->resumed(); }
  std::vector<ServiceCount> lost_by_earlier_run() const override { return inner_->lost_by_earlier_run(); }
  Status reload_files() override { return inner_->reload_files(); }

 private:
  std::unique_ptr<Exporter> inner_;
  ControlServer& server_;
};

}  // namespace

std::unique_ptr<Exporter> make_tap_exporter(std::unique_ptr<Exporter> inner, ControlServer& server) {
  return std::make_unique<TapExporter>(std::move(inner), server);
}

}  // namespace spanring::agent::control
