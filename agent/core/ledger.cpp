#include "agent/core/ledger.hpp"

#include <algorithm>

namespace spanring::agent {

void CommitLedger::add_batch(BatchId id, std::vector<Mark> marks, std::vector<ServiceSpans> services) {
  for (const Mark& m : marks) hold(m.source);
  entries_.push_back(Entry{id, false, false, std::move(marks), std::move(services)});
}

void CommitLedger::add_mark(SourceId source, const std::vector<std::uint64_t>& positions) {
  if (entries_.empty() || entries_.back().id != 0) entries_.push_back(Entry{0, true, false, {}, {}});
  Entry& e = entries_.back();
  // Positions only move forward, so the newest replaces an older mark of the same source.
  auto it = std::find_if(e.marks.begin(), e.marks.end(), [&](const Mark& m) { return m.source == source; });
  if (it != e.marks.end()) {
    it->positions = positions;
  } else {
    e.marks.push_back(Mark{source, positions});
    hold(source);
  }
}

const std::vector<ServiceSpans>* CommitLedger::resolve(BatchId id, Fate fate) {
  for (Entry& e : entries_)
    if (!e.resolved && e.id == id) {
      e.resolved = true;
      e.keep_in_rings = fate == Fate::kKeepInRings;
      return &e.services;
    }
  return nullptr;
}

void CommitLedger::retire() {
  while (!entries_.empty() && entries_.front().resolved) {
    Entry e = std::move(entries_.front());
    entries_.pop_front();
    if (e.keep_in_rings) keeping_ = true;
    for (const Mark& m : e.marks) {
      if (!keeping_) commit_(m.source, m.positions);
      release(m.source);
    }
  }
}

void CommitLedger::forget(SourceId source) {
  for (Entry& e : entries_)
    std::erase_if(e.marks, [&](const Mark& m) { return m.source == source; });
  holds_.erase(source);
}

std::uint32_t CommitLedger::holds(SourceId source) const noexcept {
  const auto it = holds_.find(source);
  return it == holds_.end() ? 0 : it->second;
}

void CommitLedger::release(SourceId source) {
  auto it = holds_.find(source);
  if (it != holds_.end() && --it->second == 0) holds_.erase(it);
}

}  // namespace spanring::agent
