// The three-phase-commit protocol alone: events in, actions out. No coordinator, no log, no
// participants, no clock: every event carries its time.

#include "server/engine/three_phase.h"

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
using protocol_test::ExpectCallersToldAndAbortForced;

const absl::Duration kBound = absl::Seconds(5);

storage::TxnRecord Record(int branches) {
  return NewRecord(storage::MODE_RECORD_THREE_PHASE, branches);
}

ProtocolOptions Options() {
  ProtocolOptions o;
  o.three_phase_timeout = kBound;
  return o;
}

Answer AbortedThere() {
  return Answer::NoAnswer(absl::FailedPreconditionError("branch already aborted here"));
}

// Runs a 3-branch transaction to the point where its PreCommits went out at kT0.
void ToPreCommitting(ThreePhase& p) {
  p.Start(kT0);
  Actions last;
  for (uint32_t b = 0; b < 3; ++b) last = p.OnAnswer(b, Phase::kPrepare, Ok(), kT0);
  ASSERT_TRUE(last.write.has_value());
  ASSERT_EQ(last.write->kind, RecordKind::kPreCommit);
  EXPECT_TRUE(last.write->forced) << "a precommitted branch may commit alone: PRECOMMIT is forced";
  EXPECT_EQ(last.write->record.state(), storage::TXN_PRECOMMITTING);
  EXPECT_TRUE(last.sends.empty()) << "no PreCommit before its record is durable";
  EXPECT_EQ(p.decision(), Decision::kUndecided);
  Actions written = p.OnWritten(RecordKind::kPreCommit, absl::OkStatus(), kT0);
  EXPECT_FALSE(written.decided);
  EXPECT_EQ(Sent(written, Phase::kPreCommit), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(p.decision(), Decision::kUndecided) << "PRECOMMITTING is not yet a decision";
  EXPECT_TRUE(p.needs_payloads()) << "the COMMIT record still has to carry them";
}

TEST(ThreePhaseTest, EveryPrepareCarriesTheBoundAndANewRecordKeepsIt) {
  ThreePhase p(Record(3), Options());
  EXPECT_EQ(p.record().three_phase_timeout_micros(), absl::ToInt64Microseconds(kBound));
  Actions start = p.Start(kT0);
  EXPECT_EQ(start.write->record.three_phase_timeout_micros(), absl::ToInt64Microseconds(kBound))
      << "the bound must be logged: a restarted coordinator waits by the participants' clock";
  storage::TxnRecord logged = Record(3);
  logged.set_three_phase_timeout_micros(absl::ToInt64Microseconds(absl::Seconds(2)));
  ThreePhase resumed(logged, Options());
  EXPECT_EQ(resumed.record().three_phase_timeout_micros(),
            absl::ToInt64Microseconds(absl::Seconds(2)));
}

struct PreCommitRow {
  const char* name;
  std::vector<Answer> answers;  // Branch i answers i-th.
  absl::Duration after;         // When the answers arrive, after the PreCommits went out.
  enum { kCommit, kAbort, kWait } outcome;
  std::vector<uint32_t> retried;
};

TEST(ThreePhaseTest, PreCommitAnswersDecideAsTheTableSays) {
  const std::vector<PreCommitRow> rows = {
      {"every branch precommitted", {Ok(), Ok(), Ok()}, absl::ZeroDuration(),
       PreCommitRow::kCommit, {}},
      {"a branch aborted on its timer", {Ok(), AbortedThere(), Ok()}, absl::ZeroDuration(),
       PreCommitRow::kAbort, {}},
      {"a branch silent within the bound", {Ok(), Unreachable(), Ok()}, absl::Seconds(1),
       PreCommitRow::kWait, {1}},
      {"a branch silent for the whole bound", {Ok(), Unreachable(), Ok()}, kBound,
       PreCommitRow::kCommit, {}},
  };
  for (const PreCommitRow& row : rows) {
    SCOPED_TRACE(row.name);
    ThreePhase p(Record(3), Options());
    ToPreCommitting(p);
    Actions decided_by;
    std::vector<uint32_t> retried;
    for (uint32_t b = 0; b < 3; ++b) {
      Actions a = p.OnAnswer(b, Phase::kPreCommit, row.answers[b], kT0 + row.after);
      for (const SendAction& s : a.sends) {
        EXPECT_TRUE(s.retry);
        retried.push_back(s.branch);
      }
      if (a.write.has_value()) decided_by = a;
    }
    EXPECT_EQ(retried, row.retried);
    if (row.outcome == PreCommitRow::kWait) {
      EXPECT_FALSE(decided_by.write.has_value());
      continue;
    }
    ASSERT_TRUE(decided_by.write.has_value());
    EXPECT_EQ(decided_by.write->kind, RecordKind::kDecision);
    const bool commit = row.outcome == PreCommitRow::kCommit;
    EXPECT_EQ(decided_by.write->record.state(),
              commit ? storage::TXN_COMMITTING : storage::TXN_ABORTING);
    EXPECT_TRUE(!commit || decided_by.write->forced);
    Actions applied = p.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0 + row.after);
    EXPECT_TRUE(applied.decided);
    EXPECT_EQ(Sent(applied, commit ? Phase::kCommit : Phase::kAbort),
              (std::vector<uint32_t>{0, 1, 2}));
  }
}

TEST(ThreePhaseTest, ANoVoteAbortsAsInTwoPhaseCommitWithoutAPreCommitRound) {
  ThreePhase p(Record(2), Options());
  p.Start(kT0);
  p.OnAnswer(0, Phase::kPrepare, Ok(), kT0);
  Actions a = p.OnAnswer(1, Phase::kPrepare, No("insufficient funds"), kT0);
  ASSERT_TRUE(a.write.has_value());
  EXPECT_EQ(a.write->kind, RecordKind::kDecision);
  EXPECT_EQ(a.write->record.state(), storage::TXN_ABORTING);
}

struct ResumeRow {
  const char* name;
  storage::TxnStateRecord logged;
  bool writes_abort;
  Phase sent;
};

TEST(ThreePhaseTest, ResumeFollowsTheLastRecord) {
  const std::vector<ResumeRow> rows = {
      {"begin only: nobody was precommitted, presumed abort", storage::TXN_PREPARING, true,
       Phase::kAbort},
      {"precommitting: ask every branch again", storage::TXN_PRECOMMITTING, false,
       Phase::kPreCommit},
      {"committing: deliver again", storage::TXN_COMMITTING, false, Phase::kCommit},
  };
  for (const ResumeRow& row : rows) {
    SCOPED_TRACE(row.name);
    storage::TxnRecord rec = Record(3);
    rec.set_state(row.logged);
    rec.set_three_phase_timeout_micros(absl::ToInt64Microseconds(kBound));
    for (auto& b : *rec.mutable_branches()) b.set_state(storage::BRANCH_PREPARED);
    ThreePhase p(rec, Options());
    Actions a = p.Resume(kT0);
    EXPECT_EQ(a.write.has_value(), row.writes_abort);
    if (row.writes_abort) {
      EXPECT_EQ(a.write->record.state(), storage::TXN_ABORTING);
      a = p.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0);
    }
    EXPECT_EQ(Sent(a, row.sent), (std::vector<uint32_t>{0, 1, 2}));
  }
}

TEST(ThreePhaseTest, APreCommitRecordThatCannotBeWrittenAbortsAndTellsTheCallers) {
  ThreePhase p(Record(2), Options());
  p.Start(kT0);
  p.OnAnswer(0, Phase::kPrepare, Ok(), kT0);
  p.OnAnswer(1, Phase::kPrepare, Ok(), kT0);
  Actions a = p.OnWritten(RecordKind::kPreCommit, absl::UnavailableError("disk full"), kT0);
  ExpectCallersToldAndAbortForced(a);
  EXPECT_TRUE(Sent(a, Phase::kPreCommit).empty());
}

TEST(ThreePhaseTest, AnOperatorCannotAbortOncePrecommitting) {
  ThreePhase p(Record(3), Options());
  ToPreCommitting(p);
  auto refused = p.OnOperatorAbort("customer called", kT0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  ThreePhase early(Record(3), Options());
  early.Start(kT0);
  EXPECT_TRUE(early.OnOperatorAbort("customer called", kT0).ok());
}

TEST(ThreePhaseTest, ABranchThatDecidedOtherwiseIsParkedForAnOperator) {
  ThreePhase p(Record(3), Options());
  ToPreCommitting(p);
  for (uint32_t b = 0; b < 3; ++b) p.OnAnswer(b, Phase::kPreCommit, Ok(), kT0);
  p.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0);
  Actions parked = p.OnAnswer(1, Phase::kCommit, AbortedThere(), kT0);
  ASSERT_TRUE(parked.write.has_value());
  EXPECT_EQ(parked.write->kind, RecordKind::kUpdate);
  EXPECT_TRUE(parked.write->forced);
  EXPECT_EQ(parked.write->record.branches(1).state(), storage::BRANCH_NEEDS_ATTENTION);
  EXPECT_TRUE(parked.sends.empty()) << "a refusal is not retried blindly";
  EXPECT_FALSE(p.needs_attention()) << "other branches are still being delivered";
  p.OnAnswer(0, Phase::kCommit, Ok(), kT0);
  Actions last = p.OnAnswer(2, Phase::kCommit, Ok(), kT0);
  EXPECT_FALSE(last.write.has_value()) << "a parked transaction does not finish";
  EXPECT_TRUE(p.needs_attention());
  EXPECT_EQ(p.decision(), Decision::kCommit) << "the outcome callers heard stands";

  auto retry = p.OnOperatorRetry("ops-7", "participant repaired", kT0);
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(Sent(*retry, Phase::kCommit), (std::vector<uint32_t>{1}));
  p.OnAnswer(1, Phase::kCommit, AbortedThere(), kT0);
  EXPECT_TRUE(p.needs_attention());

  EXPECT_EQ(p.OnOperatorResolve("ops-7", "", kT0).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto resolved = p.OnOperatorResolve("ops-7", "re-posted by hand", kT0);
  ASSERT_TRUE(resolved.ok());
  ASSERT_TRUE(resolved->write.has_value());
  EXPECT_EQ(resolved->write->kind, RecordKind::kFinish);
  EXPECT_EQ(resolved->write->record.state(), storage::TXN_COMMITTED);
  ASSERT_EQ(resolved->write->record.operator_actions_size(), 2);
  EXPECT_EQ(resolved->write->record.operator_actions(1).who(), "ops-7");
}

}  // namespace
}  // namespace settle::engine
