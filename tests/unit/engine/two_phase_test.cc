// The two-phase-commit protocol alone: events in, actions out. No coordinator, no log, no
// participants, no clock: every event carries its time.

#include "server/engine/two_phase.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/engine/protocol_test_util.h"

namespace settle::engine {
namespace {

using protocol_test::kT0;
using protocol_test::NewRecord;
using protocol_test::No;
using protocol_test::Ok;
using protocol_test::Sent;
using protocol_test::Unreachable;

storage::TxnRecord Record(int branches,
                          storage::TxnStateRecord state = storage::TXN_PREPARING) {
  storage::TxnRecord rec = NewRecord(storage::MODE_RECORD_TWO_PHASE, branches);
  rec.set_state(state);
  if (state != storage::TXN_PREPARING) {
    for (auto& b : *rec.mutable_branches()) b.set_state(storage::BRANCH_PREPARED);
  }
  return rec;
}

// Votes, in order, then the decision record written.
struct VoteRow {
  const char* name;
  std::vector<Answer> votes;  // One per branch, branch i answers i-th.
  bool commits;
  std::vector<uint32_t> delivered;  // Branches that get the decision.
};

TEST(TwoPhaseTest, VotesDecideAsTheTableSays) {
  const std::vector<VoteRow> rows = {
      {"every branch yes", {Ok(), Ok(), Ok()}, true, {0, 1, 2}},
      {"one no", {Ok(), No("insufficient funds"), Ok()}, false, {0, 2}},
      {"first no", {No("closed account"), Ok(), Ok()}, false, {1, 2}},
      {"a prepare gets no answer", {Ok(), Ok(), Unreachable()}, false, {0, 1, 2}},
  };
  for (const VoteRow& row : rows) {
    SCOPED_TRACE(row.name);
    TwoPhase p(Record(3));
    Actions start = p.Start(kT0);
    ASSERT_TRUE(start.write.has_value());
    EXPECT_EQ(start.write->kind, RecordKind::kBegin);
    EXPECT_FALSE(start.write->forced);
    EXPECT_EQ(Sent(start, Phase::kPrepare), (std::vector<uint32_t>{0, 1, 2}));

    Actions decided_by;
    for (uint32_t b = 0; b < row.votes.size() && !decided_by.write.has_value(); ++b) {
      decided_by = p.OnAnswer(b, Phase::kPrepare, row.votes[b], kT0);
    }
    ASSERT_TRUE(decided_by.write.has_value());
    EXPECT_EQ(decided_by.write->kind, RecordKind::kDecision);
    // Forced either way: the caller hears the outcome, which must outlive a power cut.
    EXPECT_TRUE(decided_by.write->forced);
    EXPECT_EQ(decided_by.write->record.state(),
              row.commits ? storage::TXN_COMMITTING : storage::TXN_ABORTING);
    // Not a decision until its record is written.
    EXPECT_EQ(p.decision(), Decision::kUndecided);
    EXPECT_FALSE(decided_by.decided);

    // Votes still in flight change nothing.
    for (uint32_t b = 0; b < row.votes.size(); ++b) {
      EXPECT_FALSE(p.OnAnswer(b, Phase::kPrepare, Ok(), kT0).write.has_value());
    }

    Actions applied = p.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0);
    EXPECT_TRUE(applied.decided);
    EXPECT_EQ(p.decision(), row.commits ? Decision::kCommit : Decision::kAbort);
    EXPECT_EQ(Sent(applied, row.commits ? Phase::kCommit : Phase::kAbort),
              row.delivered);
  }
}

TEST(TwoPhaseTest, FinishesOnceEveryBranchAcknowledgedAndRepeatsUnansweredCalls) {
  TwoPhase p(Record(2));
  p.Start(kT0);
  p.OnAnswer(0, Phase::kPrepare, Ok(), kT0);
  p.OnAnswer(1, Phase::kPrepare, Ok(), kT0);
  p.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0);

  Actions failed = p.OnAnswer(0, Phase::kCommit, Unreachable(), kT0);
  ASSERT_EQ(failed.sends.size(), 1u);
  EXPECT_TRUE(failed.sends[0].retry);
  EXPECT_EQ(failed.sends[0].phase, Phase::kCommit);

  EXPECT_FALSE(p.OnAnswer(1, Phase::kCommit, Ok(), kT0).write.has_value());
  // A duplicated ack finishes nothing.
  EXPECT_FALSE(p.OnAnswer(1, Phase::kCommit, Ok(), kT0).write.has_value());
  Actions last = p.OnAnswer(0, Phase::kCommit, Ok(), kT0);
  ASSERT_TRUE(last.write.has_value());
  EXPECT_EQ(last.write->kind, RecordKind::kFinish);
  EXPECT_FALSE(last.write->forced);
  EXPECT_EQ(last.write->record.state(), storage::TXN_COMMITTED);
  EXPECT_FALSE(last.finished);

  // A finish record not written is written again, after a pause.
  Actions again = p.OnWritten(RecordKind::kFinish, absl::UnavailableError("disk full"), kT0);
  ASSERT_TRUE(again.write.has_value());
  EXPECT_TRUE(again.write->after_pause);
  EXPECT_TRUE(p.OnWritten(RecordKind::kFinish, absl::OkStatus(), kT0).finished);
}

TEST(TwoPhaseTest, ACommitThatCannotBeLoggedTellsTheCallersAndForcesAnAbort) {
  TwoPhase p(Record(1));
  p.Start(kT0);
  p.OnAnswer(0, Phase::kPrepare, Ok(), kT0);
  Actions failed = p.OnWritten(RecordKind::kDecision, absl::UnavailableError("disk full"), kT0);
  protocol_test::ExpectCallersToldAndAbortForced(failed);
  ASSERT_TRUE(failed.write.has_value());
  EXPECT_EQ(p.decision(), Decision::kUndecided);

  // Failing again: the same ABORT, after a pause; the callers were told once.
  Actions again = p.OnWritten(RecordKind::kDecision, absl::UnavailableError("disk full"), kT0);
  EXPECT_FALSE(again.fail_callers.has_value());
  ASSERT_TRUE(again.write.has_value());
  EXPECT_TRUE(again.write->after_pause);
  EXPECT_EQ(again.write->record.state(), storage::TXN_ABORTING);

  Actions applied = p.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0);
  EXPECT_TRUE(applied.decided);
  EXPECT_EQ(p.decision(), Decision::kAbort);
  EXPECT_EQ(Sent(applied, Phase::kAbort), (std::vector<uint32_t>{0}));
}

TEST(TwoPhaseTest, AnOperatorAbortsOnlyBeforeADecisionIsStarted) {
  TwoPhase undecided(Record(2));
  undecided.Start(kT0);
  auto aborted = undecided.OnOperatorAbort("customer called", kT0);
  ASSERT_TRUE(aborted.ok());
  ASSERT_TRUE(aborted->write.has_value());
  EXPECT_EQ(aborted->write->record.state(), storage::TXN_ABORTING);
  // The votes that come after it are late.
  EXPECT_FALSE(undecided.OnAnswer(0, Phase::kPrepare, Ok(), kT0).write.has_value());

  TwoPhase committing(Record(1));
  committing.Start(kT0);
  committing.OnAnswer(0, Phase::kPrepare, Ok(), kT0);  // COMMIT being forced.
  EXPECT_EQ(committing.OnOperatorAbort("too late", kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// What a record loaded after a crash resumes to.
struct ResumeRow {
  const char* name;
  storage::TxnStateRecord state;
  std::vector<storage::BranchStateRecord> branches;
  std::vector<bool> voted_no;
  bool writes_abort;                // Undecided: ABORT is decided now.
  std::vector<uint32_t> delivered;  // Decided: branches that get it again.
  bool finishes;                    // Decided and nothing left to deliver.
};

TEST(TwoPhaseTest, ResumesEachLoggedStateAsTheTableSays) {
  using storage::BRANCH_ABORTED;
  using storage::BRANCH_COMMITTED;
  using storage::BRANCH_PENDING;
  using storage::BRANCH_PREPARED;
  using storage::BRANCH_REFUSED;
  const std::vector<ResumeRow> rows = {
      {"preparing: presumed abort", storage::TXN_PREPARING,
       {BRANCH_PREPARED, BRANCH_PENDING}, {false, false}, true, {}, false},
      {"committing: every branch again", storage::TXN_COMMITTING,
       {BRANCH_PREPARED, BRANCH_PREPARED}, {false, false}, false, {0, 1}, false},
      {"committing: an acked branch is skipped", storage::TXN_COMMITTING,
       {BRANCH_COMMITTED, BRANCH_PREPARED}, {false, false}, false, {1}, false},
      {"aborting: a NO needs no Abort", storage::TXN_ABORTING,
       {BRANCH_PREPARED, BRANCH_REFUSED}, {false, true}, false, {0}, false},
      {"aborting: everything acked only finishes", storage::TXN_ABORTING,
       {BRANCH_ABORTED, BRANCH_REFUSED}, {false, true}, false, {}, true},
  };
  for (const ResumeRow& row : rows) {
    SCOPED_TRACE(row.name);
    storage::TxnRecord rec = Record(static_cast<int>(row.branches.size()), row.state);
    for (size_t i = 0; i < row.branches.size(); ++i) {
      rec.mutable_branches(static_cast<int>(i))->set_state(row.branches[i]);
      rec.mutable_branches(static_cast<int>(i))->set_voted_no(row.voted_no[i]);
    }
    if (row.state != storage::TXN_PREPARING) rec.set_decision_micros(absl::ToUnixMicros(kT0));
    TwoPhase p(rec);
    Actions a = p.Resume(kT0 + absl::Seconds(1));
    if (row.writes_abort) {
      ASSERT_TRUE(a.write.has_value());
      EXPECT_EQ(a.write->kind, RecordKind::kDecision);
      EXPECT_EQ(a.write->record.state(), storage::TXN_ABORTING);
      EXPECT_FALSE(a.decided);
      continue;
    }
    EXPECT_TRUE(a.decided);
    const Phase phase = row.state == storage::TXN_COMMITTING ? Phase::kCommit : Phase::kAbort;
    EXPECT_EQ(Sent(a, phase), row.delivered);
    EXPECT_EQ(a.write.has_value() && a.write->kind == RecordKind::kFinish, row.finishes);
    // A recovered transaction keeps the decision time it was logged with.
    EXPECT_EQ(p.record().decision_micros(), absl::ToUnixMicros(kT0));
  }
}

}  // namespace
}  // namespace settle::engine
