// The saga protocol alone: events in, actions out. Steps in order, compensation newest step
// first, parking and the operator's commands, and what each logged state resumes to.

#include "server/engine/saga.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/engine/protocol_test_util.h"

namespace settle::engine {
namespace {

using protocol_test::kT0;
using protocol_test::NewRecord;
using protocol_test::Sent;
using protocol_test::Unreachable;

// One branch per entry, at that step.
storage::TxnRecord Record(const std::vector<uint32_t>& steps) {
  return NewRecord(storage::MODE_RECORD_SAGA, steps);
}

Answer Done() { return protocol_test::Ok(); }
Answer Refused(const std::string& why) { return protocol_test::No(why); }
Answer InProgress() { return {absl::OkStatus(), true, "", true}; }

// A saga started and its begin record written: the first step's actions are out.
Actions Begin(Saga& s) {
  Actions start = s.Start(kT0);
  EXPECT_TRUE(start.write.has_value() && start.write->forced);
  EXPECT_TRUE(start.sends.empty()) << "an action went out before the begin record was durable";
  return s.OnWritten(RecordKind::kBegin, absl::OkStatus(), kT0);
}

TEST(SagaTest, RunsStepsInOrderAndCommitsOnlyOnceTheLastIsLogged) {
  Saga s(Record({0, 0, 1}), ProtocolOptions());
  EXPECT_EQ(Sent(Begin(s), Phase::kAct), (std::vector<uint32_t>{0, 1}));
  EXPECT_FALSE(s.OnAnswer(0, Phase::kAct, Done(), kT0).write.has_value());
  Actions step_done = s.OnAnswer(1, Phase::kAct, Done(), kT0);
  ASSERT_TRUE(step_done.write.has_value());
  EXPECT_EQ(step_done.write->kind, RecordKind::kUpdate);
  EXPECT_EQ(step_done.write->record.saga_step(), 1u);
  EXPECT_TRUE(step_done.sends.empty()) << "step 1 went out before step 0's result was logged";
  EXPECT_EQ(Sent(s.OnWritten(RecordKind::kUpdate, absl::OkStatus(), kT0), Phase::kAct),
            (std::vector<uint32_t>{2}));

  Actions last = s.OnAnswer(2, Phase::kAct, Done(), kT0);
  ASSERT_TRUE(last.write.has_value());
  EXPECT_EQ(last.write->kind, RecordKind::kFinish);
  EXPECT_TRUE(last.write->forced);
  EXPECT_EQ(last.write->record.state(), storage::TXN_COMMITTED);
  EXPECT_EQ(s.decision(), Decision::kUndecided);
  Actions written = s.OnWritten(RecordKind::kFinish, absl::OkStatus(), kT0);
  EXPECT_TRUE(written.decided);
  EXPECT_TRUE(written.finished);
  EXPECT_EQ(s.decision(), Decision::kCommit);
  EXPECT_TRUE(s.Result().committed);
}

// How a failed action turns the saga around: which branches are compensated first.
struct FailureRow {
  const char* name;
  std::vector<uint32_t> steps;
  // Answers to the actions, in order: (branch, answer); the last one fails the saga.
  std::vector<std::pair<uint32_t, Answer>> answers;
  std::vector<uint32_t> compensated_first;
  int refused_branch;
};

TEST(SagaTest, AFailedActionCompensatesWhatRanNewestStepFirst) {
  const std::vector<FailureRow> rows = {
      {"declined in step 1: step 0 undone", {0, 0, 1},
       {{0, Done()}, {1, Done()}, {2, Refused("card declined")}}, {0, 1}, 2},
      {"declined in step 0: the sibling in flight is undone, the refused one is not", {0, 0, 1},
       {{0, Refused("insufficient funds")}}, {1}, 0},
      {"no answer five times: it may have acted, so it is undone too", {0, 1},
       {{0, Done()}, {1, Unreachable()}, {1, Unreachable()}, {1, Unreachable()},
        {1, Unreachable()}, {1, Unreachable()}}, {1}, 1},
      {"an error no retry fixes", {0, 1},
       {{0, Done()}, {1, Answer::NoAnswer(absl::InvalidArgumentError("bad payload"))}}, {1}, 1},
  };
  for (const FailureRow& row : rows) {
    SCOPED_TRACE(row.name);
    Saga s(Record(row.steps), ProtocolOptions());
    Begin(s);
    Actions last;
    for (const auto& [branch, answer] : row.answers) {
      last = s.OnAnswer(branch, Phase::kAct, answer, kT0);
      if (last.write.has_value() && last.write->kind == RecordKind::kUpdate) {
        s.OnWritten(RecordKind::kUpdate, absl::OkStatus(), kT0);
      }
    }
    ASSERT_TRUE(last.write.has_value());
    EXPECT_EQ(last.write->kind, RecordKind::kDecision);
    EXPECT_TRUE(last.write->forced);
    EXPECT_EQ(last.write->record.state(), storage::TXN_COMPENSATING);
    EXPECT_TRUE(last.sends.empty()) << "compensation before the decision was durable";
    Actions applied = s.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0);
    EXPECT_TRUE(applied.decided);
    EXPECT_EQ(s.decision(), Decision::kAbort);
    EXPECT_EQ(Sent(applied, Phase::kCompensate), row.compensated_first);
    EXPECT_EQ(s.Result().refused_branch, row.refused_branch);
  }
}

TEST(SagaTest, AnActionInProgressIsAskedAgainWithoutSpendingAnAttempt) {
  ProtocolOptions options;
  options.saga_action_attempts = 2;
  Saga s(Record({0}), options);
  Begin(s);
  for (int i = 0; i < 5; ++i) {
    Actions again = s.OnAnswer(0, Phase::kAct, InProgress(), kT0);
    ASSERT_EQ(again.sends.size(), 1u);
    EXPECT_TRUE(again.sends[0].retry);
  }
  EXPECT_EQ(s.OnAnswer(0, Phase::kAct, Unreachable(), kT0).sends.size(), 1u);
  EXPECT_EQ(s.OnAnswer(0, Phase::kAct, Done(), kT0).write->kind, RecordKind::kFinish);
}

TEST(SagaTest, AnActionStillInProgressAtTheTimeoutMakesTheSagaCompensate) {
  storage::TxnRecord rec = Record({0, 1});
  rec.set_deadline_micros(absl::ToUnixMicros(kT0 + absl::Seconds(5)));
  Saga s(rec, ProtocolOptions());
  Begin(s);
  s.OnAnswer(0, Phase::kAct, Done(), kT0);
  s.OnWritten(RecordKind::kUpdate, absl::OkStatus(), kT0);
  EXPECT_EQ(s.OnAnswer(1, Phase::kAct, InProgress(), kT0 + absl::Seconds(4)).sends.size(), 1u);
  Actions late = s.OnAnswer(1, Phase::kAct, InProgress(), kT0 + absl::Seconds(5));
  ASSERT_TRUE(late.write.has_value());
  EXPECT_EQ(late.write->record.state(), storage::TXN_COMPENSATING);
  // Both are undone, newest step first: the one in progress may yet complete.
  EXPECT_EQ(Sent(s.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0), Phase::kCompensate),
            (std::vector<uint32_t>{1}));
}

TEST(SagaTest, CompensatesOneStepAtATimeAndRetriesUntilDone) {
  Saga s(Record({0, 1, 2}), ProtocolOptions());
  Begin(s);
  for (uint32_t b : {0u, 1u}) {
    s.OnAnswer(b, Phase::kAct, Done(), kT0);
    s.OnWritten(RecordKind::kUpdate, absl::OkStatus(), kT0);
  }
  s.OnAnswer(2, Phase::kAct, Refused("limit exceeded"), kT0);
  EXPECT_EQ(Sent(s.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0), Phase::kCompensate),
            (std::vector<uint32_t>{1}));
  // A refund that completes later, and a gateway that is down: asked again, forever.
  EXPECT_TRUE(s.OnAnswer(1, Phase::kCompensate, InProgress(), kT0).sends.at(0).retry);
  EXPECT_TRUE(s.OnAnswer(1, Phase::kCompensate, Unreachable(), kT0).sends.at(0).retry);
  Actions step1 = s.OnAnswer(1, Phase::kCompensate, Done(), kT0);
  ASSERT_TRUE(step1.write.has_value());
  EXPECT_TRUE(step1.sends.empty()) << "step 0 undone before step 1's result was logged";
  EXPECT_EQ(Sent(s.OnWritten(RecordKind::kUpdate, absl::OkStatus(), kT0), Phase::kCompensate),
            (std::vector<uint32_t>{0}));
  s.OnAnswer(0, Phase::kCompensate, Done(), kT0);
  Actions finish = s.OnWritten(RecordKind::kUpdate, absl::OkStatus(), kT0);
  ASSERT_TRUE(finish.write.has_value());
  EXPECT_EQ(finish.write->kind, RecordKind::kFinish);
  EXPECT_EQ(finish.write->record.state(), storage::TXN_ABORTED);
  EXPECT_TRUE(s.OnWritten(RecordKind::kFinish, absl::OkStatus(), kT0).finished);
}

// A saga one step in, its only action refused, its compensation of step 0 in flight.
void ParkAfterRefusedCompensation(Saga& s) {
  Begin(s);
  s.OnAnswer(0, Phase::kAct, Done(), kT0);
  s.OnWritten(RecordKind::kUpdate, absl::OkStatus(), kT0);
  s.OnAnswer(1, Phase::kAct, Refused("card declined"), kT0);
  s.OnWritten(RecordKind::kDecision, absl::OkStatus(), kT0);
  Actions parked = s.OnAnswer(0, Phase::kCompensate, Refused("refund window closed"), kT0);
  ASSERT_TRUE(parked.write.has_value());
  EXPECT_TRUE(parked.write->forced);
  EXPECT_EQ(parked.write->record.state(), storage::TXN_NEEDS_ATTENTION);
  EXPECT_TRUE(parked.sends.empty());
  EXPECT_TRUE(s.needs_attention());
  s.OnWritten(RecordKind::kUpdate, absl::OkStatus(), kT0);
}

TEST(SagaTest, ACompensationRefusedForGoodParksUntilAnOperatorRetries) {
  Saga s(Record({0, 1}), ProtocolOptions());
  ParkAfterRefusedCompensation(s);
  EXPECT_EQ(s.record().branches(0).state(), storage::BRANCH_NEEDS_ATTENTION);
  EXPECT_EQ(s.decision(), Decision::kAbort);
  EXPECT_EQ(s.OnOperatorResolve("alice", "", kT0).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto retried = s.OnOperatorRetry("alice", "refund window reopened", kT0);
  ASSERT_TRUE(retried.ok());
  ASSERT_TRUE(retried->write.has_value());
  EXPECT_TRUE(retried->write->forced);
  EXPECT_EQ(retried->write->record.state(), storage::TXN_COMPENSATING);
  ASSERT_EQ(retried->write->record.operator_actions_size(), 1);
  EXPECT_EQ(retried->write->record.operator_actions(0).who(), "alice");
  EXPECT_EQ(retried->write->record.operator_actions(0).action(), "retry");
  EXPECT_EQ(Sent(s.OnWritten(RecordKind::kUpdate, absl::OkStatus(), kT0), Phase::kCompensate),
            (std::vector<uint32_t>{0}));
  // Not parked any more: another retry is refused.
  EXPECT_EQ(s.OnOperatorRetry("alice", "again", kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SagaTest, AnOperatorResolvesAParkedSagaWithWhoAndWhy) {
  Saga s(Record({0, 1}), ProtocolOptions());
  ParkAfterRefusedCompensation(s);
  auto resolved = s.OnOperatorResolve("bob", "refunded by bank transfer, ticket 4411", kT0);
  ASSERT_TRUE(resolved.ok());
  ASSERT_TRUE(resolved->write.has_value());
  EXPECT_EQ(resolved->write->kind, RecordKind::kFinish);
  EXPECT_TRUE(resolved->write->forced);
  EXPECT_EQ(resolved->write->record.state(), storage::TXN_ABORTED);
  EXPECT_EQ(resolved->write->record.operator_actions(0).reason(),
            "refunded by bank transfer, ticket 4411");
  // What happened to the branch stays in the record.
  EXPECT_EQ(resolved->write->record.branches(0).state(), storage::BRANCH_NEEDS_ATTENTION);
  EXPECT_TRUE(s.OnWritten(RecordKind::kFinish, absl::OkStatus(), kT0).finished);
}

TEST(SagaTest, ABeginThatCannotBeWrittenSendsNothingAndTellsTheCaller) {
  Saga s(Record({0}), ProtocolOptions());
  s.Start(kT0);
  Actions failed = s.OnWritten(RecordKind::kBegin, absl::UnavailableError("disk full"), kT0);
  ASSERT_TRUE(failed.fail_callers.has_value());
  EXPECT_EQ(failed.fail_callers->code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(failed.finished);
  EXPECT_TRUE(failed.sends.empty());
}

// What a record loaded after a crash resumes to.
struct ResumeRow {
  const char* name;
  storage::TxnStateRecord state;
  uint32_t saga_step;
  std::vector<storage::BranchStateRecord> branches;  // Steps 0, 1, 2.
  Phase phase;
  std::vector<uint32_t> sent;
  bool decided;
};

TEST(SagaTest, ResumesEachLoggedStateAsTheTableSays) {
  using storage::BRANCH_COMMITTED;
  using storage::BRANCH_COMPENSATED;
  using storage::BRANCH_NEEDS_ATTENTION;
  using storage::BRANCH_PENDING;
  const std::vector<ResumeRow> rows = {
      {"forward: the logged step's actions again", storage::TXN_PREPARING, 1,
       {BRANCH_COMMITTED, BRANCH_PENDING, BRANCH_PENDING}, Phase::kAct, {1}, false},
      {"compensating: the newest step that ran", storage::TXN_COMPENSATING, 1,
       {BRANCH_COMMITTED, BRANCH_COMMITTED, BRANCH_PENDING}, Phase::kCompensate, {1}, true},
      {"compensating: step 1 undone, step 0 next", storage::TXN_COMPENSATING, 1,
       {BRANCH_COMMITTED, BRANCH_COMPENSATED, BRANCH_PENDING}, Phase::kCompensate, {0}, true},
      {"parked: stays parked", storage::TXN_NEEDS_ATTENTION, 1,
       {BRANCH_NEEDS_ATTENTION, BRANCH_COMPENSATED, BRANCH_PENDING}, Phase::kCompensate, {}, true},
  };
  for (const ResumeRow& row : rows) {
    SCOPED_TRACE(row.name);
    storage::TxnRecord rec = Record({0, 1, 2});
    rec.set_state(row.state);
    rec.set_saga_step(row.saga_step);
    for (int i = 0; i < 3; ++i) rec.mutable_branches(i)->set_state(row.branches[i]);
    Saga s(rec, ProtocolOptions());
    Actions a = s.Resume(kT0);
    EXPECT_EQ(Sent(a, row.phase), row.sent);
    EXPECT_EQ(a.decided, row.decided);
  }
}

TEST(SagaTest, ResumingAStepWhoseNextRecordWasLostMovesOn) {
  storage::TxnRecord rec = Record({0, 1});
  rec.mutable_branches(0)->set_state(storage::BRANCH_COMMITTED);
  Saga s(rec, ProtocolOptions());
  Actions a = s.Resume(kT0);
  ASSERT_TRUE(a.write.has_value());
  EXPECT_EQ(a.write->record.saga_step(), 1u);
  EXPECT_TRUE(a.sends.empty());
}

}  // namespace
}  // namespace settle::engine
