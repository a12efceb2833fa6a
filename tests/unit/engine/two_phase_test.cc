// The two-phase-commit protocol alone: events in, actions out. No coordinator, no log, no
// participants, no clock: every event carries its time.

#include "server/engine/two_phase.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace settle::engine {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

storage::TxnRecord Record(int branches,
                          storage::TxnStateRecord state = storage::TXN_PREPARING) {
  storage::TxnRecord rec;
  rec.set_txn_id("s0-0000000000000001");
  rec.set_idempotency_key("k1");
  rec.set_mode(storage::MODE_RECORD_TWO_PHASE);
  rec.set_state(state);
  rec.set_refused_branch(-1);
  rec.set_begin_micros(absl::ToUnixMicros(kT0));
  for (int i = 0; i < branches; ++i) {
    auto* b = rec.add_branches();
    b->set_participant("p" + std::to_string(i));
    b->set_payload("payload");
    b->set_state(state == storage::TXN_PREPARING ? storage::BRANCH_PENDING
                                                 : storage::BRANCH_PREPARED);
  }
  return rec;
}

Answer Yes() { return {}; }
Answer No(const std::string& reason) { return {absl::OkStatus(), false, reason}; }
Answer Unreachable() { return Answer::NoAnswer(absl::UnavailableError("connection refused")); }

std::vector<uint32_t> BranchesSent(const Actions& a, Phase phase) {
  std::vector<uint32_t> out;
  for (const SendAction& s : a.sends) {
    if (s.phase == phase) out.push_back(s.branch);
  }
  return out;
}

// Votes, in order, then the decision record written.
struct VoteRow {
  const char* name;
  std::vector<Answer> votes;  // One per branch, branch i answers i-th.
  bool commits;
  bool forced;
  std::vector<uint32_t> delivered;  // Branches that get the decision.
};

TEST(TwoPhaseTest, VotesDecideAsTheTableSays) {
  const std::vector<VoteRow> rows = {
      {"every branch yes", {Yes(), Yes(), Yes()}, true, true, {0, 1, 2}},
      {"one no", {Yes(), No("insufficient funds"), Yes()}, false, false, {0, 2}},
      {"first no", {No("closed account"), Yes(), Yes()}, false, false, {1, 2}},
      {"a prepare gets no answer", {Yes(), Yes(), Unreachable()}, false, false, {0, 1, 2}},
  };
  for (const VoteRow& row : rows) {
    SCOPED_TRACE(row.name);
    TwoPhase p(Record(3));
    Actions start = p.Start(kT0);
    ASSERT_TRUE(start.write.has_value());
    EXPECT_EQ(start.write->kind, RecordKind::kBegin);
    EXPECT_FALSE(start.write->forced);
    EXPECT_EQ(BranchesSent(start, Phase::kPrepare), (std::vector<uint32_t>{0, 1, 2}));

    Actions decided_by;
    for (uint32_t b = 0; b < row.votes.size() && !decided_by.write.has_value(); ++b) {
      decided_by = p.OnAnswer(b, Phase::kPrepare, row.votes[b], kT0);
    }
    ASSERT_TRUE(decided_by.write.has_value());
    EXPECT_EQ(decided_by.write->kind, RecordKind::kDecision);
    EXPECT_EQ(decided_by.write->forced, row.forced);
    EXPECT_EQ(decided_by.write->record.state(),
              row.commits ? storage::TXN_COMMITTING : storage::TXN_ABORTING);
    // Not a decision until its record is written.
    EXPECT_EQ(p.decision(), Decision::kUndecided);
    EXPECT_FALSE(decided_by.decided);

    // Votes still in flight change nothing.
    for (uint32_t b = 0; b < row.votes.size(); ++b) {
      EXPECT_FALSE(p.OnAnswer(b, Phase::kPrepare, Yes(), kT0).write.has_value());
    }

    Actions applied = p.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0);
    EXPECT_TRUE(applied.decided);
    EXPECT_EQ(p.decision(), row.commits ? Decision::kCommit : Decision::kAbort);
    EXPECT_EQ(BranchesSent(applied, row.commits ? Phase::kCommit : Phase::kAbort),
              row.delivered);
  }
}

TEST(TwoPhaseTest, FinishesOnceEveryBranchAcknowledgedAndRepeatsUnansweredCalls) {
  TwoPhase p(Record(2));
  p.Start(kT0);
  p.OnAnswer(0, Phase::kPrepare, Yes(), kT0);
  p.OnAnswer(1, Phase::kPrepare, Yes(), kT0);
  p.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0);

  Actions failed = p.OnAnswer(0, Phase::kCommit, Unreachable(), kT0);
  ASSERT_EQ(failed.sends.size(), 1u);
  EXPECT_TRUE(failed.sends[0].retry);
  EXPECT_EQ(failed.sends[0].phase, Phase::kCommit);

  EXPECT_FALSE(p.OnAnswer(1, Phase::kCommit, Yes(), kT0).write.has_value());
  // A duplicated ack finishes nothing.
  EXPECT_FALSE(p.OnAnswer(1, Phase::kCommit, Yes(), kT0).write.has_value());
  Actions last = p.OnAnswer(0, Phase::kCommit, Yes(), kT0);
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
  p.OnAnswer(0, Phase::kPrepare, Yes(), kT0);
  Actions failed = p.OnWritten(RecordKind::kDecision, absl::UnavailableError("disk full"), kT0);
  ASSERT_TRUE(failed.fail_callers.has_value());
  EXPECT_EQ(failed.fail_callers->code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(failed.write.has_value());
  EXPECT_TRUE(failed.write->forced);
  EXPECT_EQ(failed.write->record.state(), storage::TXN_ABORTING);
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
  EXPECT_EQ(BranchesSent(applied, Phase::kAbort), (std::vector<uint32_t>{0}));
}

TEST(TwoPhaseTest, AnOperatorAbortsOnlyBeforeADecisionIsStarted) {
  TwoPhase undecided(Record(2));
  undecided.Start(kT0);
  auto aborted = undecided.OnOperatorAbort("customer called", kT0);
  ASSERT_TRUE(aborted.ok());
  ASSERT_TRUE(aborted->write.has_value());
  EXPECT_EQ(aborted->write->record.state(), storage::TXN_ABORTING);
  // The votes that come after it are late.
  EXPECT_FALSE(undecided.OnAnswer(0, Phase::kPrepare, Yes(), kT0).write.has_value());

  TwoPhase committing(Record(1));
  committing.Start(kT0);
  committing.OnAnswer(0, Phase::kPrepare, Yes(), kT0);  // COMMIT being forced.
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
    EXPECT_EQ(BranchesSent(a, phase), row.delivered);
    EXPECT_EQ(a.write.has_value() && a.write->kind == RecordKind::kFinish, row.finishes);
    // A recovered transaction keeps the decision time it was logged with.
    EXPECT_EQ(p.record().decision_micros(), absl::ToUnixMicros(kT0));
  }
}

}  // namespace
}  // namespace settle::engine
