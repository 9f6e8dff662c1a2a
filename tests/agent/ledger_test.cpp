// The commit ledger alone: which positions commit, when, and in which order.
#include "agent/core/ledger.hpp"

#include <gtest/gtest.h>

#include <map>
#include <utility>
#include <vector>

namespace sa = spanring::agent;
using Fate = sa::CommitLedger::Fate;
using Positions = std::vector<std::uint64_t>;

namespace {

// Records every commit, in order, and the latest position per source.
struct Commits {
  std::vector<std::pair<sa::SourceId, Positions>> log;
  std::map<sa::SourceId, Positions> at;
  sa::CommitLedger::CommitFn fn() {
    return [this](sa::SourceId s, const Positions& p) {
      log.emplace_back(s, p);
      at[s] = p;
    };
  }
};

std::vector<sa::Mark> marks(std::initializer_list<std::pair<sa::SourceId, Positions>> l) {
  std::vector<sa::Mark> out;
  for (const auto& [s, p] : l) out.push_back(sa::Mark{s, p});
  return out;
}

TEST(CommitLedger, BatchesAnsweredInOrderCommitEachAsItIsAnswered) {
  Commits c;
  sa::CommitLedger l(c.fn());
  l.add_batch(1, marks({{7, {10, 0}}}), {{0, 10}});
  l.add_batch(2, marks({{7, {10, 5}}}), {{0, 5}});
  ASSERT_NE(l.resolve(1, Fate::kCommit), nullptr);
  l.retire();
  EXPECT_EQ(c.at[7], (Positions{10, 0}));
  ASSERT_NE(l.resolve(2, Fate::kCommit), nullptr);
  l.retire();
  EXPECT_EQ(c.at[7], (Positions{10, 5}));
  EXPECT_EQ(c.log.size(), 2u);
  EXPECT_EQ(l.size(), 0u);
  EXPECT_EQ(l.holds(7), 0u);
}

TEST(CommitLedger, LaterAnswerWaitsForEveryEarlierBatch) {
  Commits c;
  sa::CommitLedger l(c.fn());
  l.add_batch(1, marks({{1, {10}}}), {{0, 10}});
  l.add_batch(2, marks({{1, {20}}}), {{0, 10}});
  l.add_batch(3, marks({{1, {30}}}), {{0, 10}});
  l.resolve(3, Fate::kCommit);
  l.resolve(2, Fate::kCommit);
  l.retire();
  EXPECT_TRUE(c.log.empty()) << "batch 1 is unanswered: nothing below batches 2 and 3 is safe";
  EXPECT_EQ(l.size(), 3u);
  l.resolve(1, Fate::kCommit);
  l.retire();
  ASSERT_EQ(c.log.size(), 3u) << "each entry commits, oldest first";
  EXPECT_EQ(c.log[0].second, Positions{10});
  EXPECT_EQ(c.log[1].second, Positions{20});
  EXPECT_EQ(c.log[2].second, Positions{30});
}

TEST(CommitLedger, ResolveReturnsTheBatchServicesOnceAndRejectsUnknownIds) {
  sa::CommitLedger l([](sa::SourceId, const Positions&) {});
  l.add_batch(4, marks({{1, {3}}}), {{0, 2}, {5, 1}, {0, 7}});
  EXPECT_EQ(l.resolve(9, Fate::kCommit), nullptr) << "never added";
  const auto* svc = l.resolve(4, Fate::kCommit);
  ASSERT_NE(svc, nullptr);
  ASSERT_EQ(svc->size(), 3u);
  EXPECT_EQ((*svc)[1].service, 5u);
  EXPECT_EQ((*svc)[2].spans, 7u);
  EXPECT_EQ(l.resolve(4, Fate::kCommit), nullptr) << "a second answer for one batch is ignored";
}

TEST(CommitLedger, MarkOnlyEntryBetweenBatchesCommitsInItsPlace) {
  Commits c;
  sa::CommitLedger l(c.fn());
  l.add_batch(1, marks({{1, {10}}}), {{0, 10}});
  l.add_mark(1, {15});  // five records, all sampled out, read after batch 1 closed
  l.add_batch(2, marks({{1, {25}}}), {{0, 10}});
  l.retire();
  EXPECT_TRUE(c.log.empty()) << "the mark waits for batch 1";
  l.resolve(1, Fate::kCommit);
  l.retire();
  ASSERT_EQ(c.log.size(), 2u);
  EXPECT_EQ(c.log[0].second, Positions{10});
  EXPECT_EQ(c.log[1].second, Positions{15}) << "the mark-only entry is resolved: it follows at once";
  EXPECT_EQ(l.size(), 1u);
  EXPECT_EQ(l.holds(1), 1u);
}

TEST(CommitLedger, ConsecutiveMarksFoldIntoOneEntryKeepingTheNewestPositions) {
  Commits c;
  sa::CommitLedger l(c.fn());
  l.add_batch(1, marks({{1, {10}}}), {{0, 10}});
  for (std::uint64_t p = 11; p <= 100; ++p) l.add_mark(1, {p});  // a long retry, one mark per poll
  l.add_mark(2, {4, 4});
  l.add_mark(1, {101});
  EXPECT_EQ(l.size(), 2u) << "one batch, one folded mark-only entry";
  EXPECT_EQ(l.holds(1), 2u);
  EXPECT_EQ(l.holds(2), 1u);
  l.resolve(1, Fate::kCommit);
  l.retire();
  EXPECT_EQ(c.log.size(), 3u) << "batch 1's mark, then one commit per source of the folded entry";
  EXPECT_EQ(c.at[1], Positions{101});
  EXPECT_EQ(c.at[2], (Positions{4, 4}));
}

TEST(CommitLedger, MarkOnAnEmptyLedgerCommitsAtTheNextRetire) {
  Commits c;
  sa::CommitLedger l(c.fn());
  l.add_mark(3, {8});
  l.retire();
  EXPECT_EQ(c.at[3], Positions{8});
  EXPECT_EQ(l.size(), 0u);
}

TEST(CommitLedger, MarkAfterABatchDoesNotFoldIntoIt) {
  Commits c;
  sa::CommitLedger l(c.fn());
  l.add_mark(1, {5});
  l.add_batch(1, marks({{1, {10}}}), {{0, 5}});
  l.add_mark(1, {12});
  EXPECT_EQ(l.size(), 3u) << "a mark never moves ahead of a batch, nor a batch's mark behind";
  l.retire();
  EXPECT_EQ(c.at[1], Positions{5});
}

TEST(CommitLedger, KeptBatchCommitsNothingAndNothingAfterIt) {
  Commits c;
  sa::CommitLedger l(c.fn());
  l.add_batch(1, marks({{1, {10}}}), {{0, 10}});
  l.add_batch(2, marks({{1, {20}}}), {{0, 10}});
  l.add_mark(1, {25});
  l.add_batch(3, marks({{1, {35}}}), {{0, 10}});
  l.resolve(1, Fate::kCommit);
  l.resolve(2, Fate::kKeepInRings);
  l.resolve(3, Fate::kCommit);
  l.retire();
  ASSERT_EQ(c.log.size(), 1u) << "only batch 1, which came before the kept one";
  EXPECT_EQ(c.at[1], Positions{10});
  EXPECT_TRUE(l.keeping_in_rings());
  EXPECT_EQ(l.size(), 0u) << "kept and later entries are retired all the same";
  EXPECT_EQ(l.holds(1), 0u);
  l.add_mark(1, {40});
  l.retire();
  EXPECT_EQ(c.log.size(), 1u) << "keeping is for good";
}

TEST(CommitLedger, KeepInRingsWaitsForEarlierAnswersLikeAnyEntry) {
  Commits c;
  sa::CommitLedger l(c.fn());
  l.add_batch(1, marks({{1, {10}}}), {{0, 10}});
  l.add_batch(2, marks({{1, {20}}}), {{0, 10}});
  l.resolve(2, Fate::kKeepInRings);
  l.retire();
  EXPECT_FALSE(l.keeping_in_rings()) << "batch 1 is still unanswered";
  l.resolve(1, Fate::kCommit);
  l.retire();
  EXPECT_EQ(c.log.size(), 1u);
  EXPECT_EQ(c.at[1], Positions{10});
  EXPECT_TRUE(l.keeping_in_rings());
}

TEST(CommitLedger, ForgottenSourceNeverCommitsWhileOthersDo) {
  Commits c;
  sa::CommitLedger l(c.fn());
  l.add_batch(1, marks({{1, {10}}, {2, {3}}}), {{0, 10}, {1, 3}});
  l.add_mark(1, {12});
  EXPECT_EQ(l.holds(1), 2u);
  l.forget(1);  // its segment went away while entries held its marks
  EXPECT_EQ(l.holds(1), 0u);
  EXPECT_EQ(l.holds(2), 1u);
  l.resolve(1, Fate::kCommit);
  l.retire();
  ASSERT_EQ(c.log.size(), 1u);
  EXPECT_EQ(c.log[0].first, 2u);
  EXPECT_EQ(l.size(), 0u);
}

TEST(CommitLedger, ManySourcesEachCommitTheirOwnNewestPosition) {
  Commits c;
  sa::CommitLedger l(c.fn());
  constexpr sa::SourceId kSources = 64;
  constexpr sa::BatchId kBatches = 10;
  for (sa::BatchId b = 1; b <= kBatches; ++b) {
    std::vector<sa::Mark> m;
    for (sa::SourceId s = 1; s <= kSources; ++s)
      if ((s + b) % 3 != 0) m.push_back(sa::Mark{s, {b * 100 + s, b}});  // not every source in every batch
    l.add_batch(b, std::move(m), {{0, 1}});
  }
  for (sa::BatchId b = kBatches; b >= 1; --b) l.resolve(b, Fate::kCommit);  // answered newest first
  l.retire();
  EXPECT_EQ(l.size(), 0u);
  for (sa::SourceId s = 1; s <= kSources; ++s) {
    sa::BatchId last = kBatches;
    while ((s + last) % 3 == 0) --last;
    EXPECT_EQ(c.at[s], (Positions{last * 100 + s, last})) << "source " << s;
    EXPECT_EQ(l.holds(s), 0u);
  }
  // Per source, positions committed never go backwards.
  std::map<sa::SourceId, std::uint64_t> seen;
  for (const auto& [s, p] : c.log) {
    EXPECT_GE(p[0], seen[s]);
    seen[s] = p[0];
  }
}

}  // namespace
