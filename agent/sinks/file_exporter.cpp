#include "agent/sinks/file_exporter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <system_error>
#include <utility>

#include "agent/sinks/otlp_json.hpp"

namespace spanring::agent {
namespace {

using Clock = std::chrono::steady_clock;

// Shared with posted handlers through a weak_ptr, so a result still in the io_context's queue
// when the exporter is destroyed is dropped instead of touching freed memory.
struct FileState {
  boost::asio::io_context& io;
  ResultCallback on_result;
  int fd = -1;
  std::string path;
  std::string line;  // reused between batches to keep its capacity

  FileState(boost::asio::io_context& i, ResultCallback cb, int f, std::string p)
      : io(i), on_result(std::move(cb)), fd(f), path(std::move(p)) {}
  ~FileState() {
    if (fd >= 0) ::close(fd);
  }
  FileState(const FileState&) = delete;
  FileState& operator=(const FileState&) = delete;
};

// Returns 0 or the errno of the failed write. One write() call per line in the common case, so
// lines from one process never interleave; the loop only runs again after a short write.
int write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

class FileExporter final : public Exporter {
 public:
  explicit FileExporter(std::shared_ptr<FileState> state) : state_(std::move(state)) {}

  bool enqueue(ExportBatch batch) override {
    if (shut_down_) return false;
    const auto started = Clock::now();
    ExportResult r;
    r.id = batch.id;
    r.spans = batch.spans;
    r.services = std::move(batch.services);
    r.attempts = 1;
    std::string& line = state_->line;
    line.clear();
    append_otlp_json(batch.request(), line);
    line += '\n';
    if (const int err = write_all(state_->fd, line); err != 0) {
      fail(r, "write to " + state_->path + " failed: " + std::generic_category().message(err));
    }
    post_result(std::move(r), started);
    return true;
  }

  void shutdown(Clock::time_point /*deadline*/, std::function<void()> done) override {
    // Every accepted batch is already written and its result posted ahead of this.
    if (shut_down_) return;
    shut_down_ = true;
    boost::asio::post(state_->io, [weak = std::weak_ptr<FileState>(state_), done = std::move(done)] {
      if (weak.lock() && done) done();
    });
  }

  std::uint64_t queued_spans() const override { return 0; }
  std::uint64_t queued_bytes() const override { return 0; }

 private:
  static void fail(ExportResult& r, std::string message) {
    r.outcome = ExportOutcome::kFailedPermanent;
    r.rejected_spans = r.spans;
    r.message = std::move(message);
  }

  void post_result(ExportResult r, Clock::time_point started) {
    boost::asio::post(state_->io, [weak = std::weak_ptr<FileState>(state_), r = std::move(r), started]() mutable {
      const auto state = weak.lock();
      if (!state) return;
      r.latency = Clock::now() - started;
      if (state->on_result) state->on_result(r);
    });
  }

  std::shared_ptr<FileState> state_;
  bool shut_down_ = false;
};

}  // namespace

std::unique_ptr<Exporter> make_file_exporter(boost::asio::io_context& io, const std::string& path,
                                             ResultCallback on_result, std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot open " + path + " for appending: " + std::generic_category().message(errno);
    return nullptr;
  }
  return std::make_unique<FileExporter>(std::make_shared<FileState>(io, std::move(on_result), fd, path));
}

}  // namespace spanring::agent
