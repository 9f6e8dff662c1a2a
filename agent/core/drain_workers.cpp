#include "agent/core/drain_workers.hpp"

#include <algorithm>

#include "agent/core/discovery.hpp"

namespace spanring::agent {

DrainPool::DrainPool(std::size_t threads) {
  for (std::size_t k = 1; k < std::max<std::size_t>(threads, 1); ++k) helpers_.emplace_back([this, k] { helper(k); });
}

DrainPool::~DrainPool() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  start_.notify_all();
  for (auto& t : helpers_) t.join();
}

void DrainPool::run(const std::vector<bool>& work, const std::function<void(std::size_t)>& fn) {
  std::size_t helpers_with_work = 0;
  for (std::size_t k = 1; k < size() && k < work.size(); ++k) helpers_with_work += work[k] ? 1 : 0;
  if (helpers_with_work > 0) {
    {
      std::lock_guard lock(mu_);
      fn_ = &fn;
      work_ = work;
      pending_ = helpers_.size();
      ++generation_;
    }
    start_.notify_all();
  }
  if (!work.empty() && work[0]) fn(0);
  if (helpers_with_work > 0) {
    // Acquires what the helpers wrote: each released it by decrementing pending_ under mu_.
    std::unique_lock lock(mu_);
    done_.wait(lock, [&] { return pending_ == 0; });
    fn_ = nullptr;
  }
}

void DrainPool::helper(std::size_t k) {
  std::uint64_t seen = 0;
  std::unique_lock lock(mu_);
  for (;;) {
    start_.wait(lock, [&] { return quit_ || generation_ != seen; });
    if (quit_) return;
    seen = generation_;
    const bool mine = k < work_.size() && work_[k];
    const auto* fn = fn_;
    lock.unlock();
    if (mine) (*fn)(k);
    lock.lock();
    if (--pending_ == 0) done_.notify_one();
  }
}

void DrainShard::close() {
  std::vector<Mark> marks;
  for (Source* s : sources)
    if (s->dirty || builder.holds(s->batch)) {
      marks.push_back(Mark{s->id, s->read_pos});
      s->dirty = false;
    }
  Closed c;
  c.batch = builder.close(c.services);
  c.marks = std::move(marks);
  closed.push_back(std::move(c));
}

std::size_t default_drain_threads() noexcept {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(cores, 1, kMaxDrainThreads);
}

}  // namespace spanring::agent
