// A coordinator killed before and after every record a transaction writes, by kill -9 (queued
// writes lost) and by a power cut (unsynced writes lost too), then restarted on the same log:
// every participant ends with the same outcome, and a COMMITTED told to the caller stands. For
// sagas: every action ends applied everywhere or undone everywhere, none before the log knew of
// the saga. Fakes only (engine_harness.h): the test places each crash exactly.

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/engine_harness.h"

namespace settle::engine {
namespace {

const std::vector<std::string> kParticipants = {"balance", "ledger", "notification"};

struct Scenario {
  const char* name;
  // Scripts the participants before the payment.
  std::function<void(EngineHarness&)> script;
  Mode mode = Mode::kTwoPhase;
};

using engine::StepResult;
// A card payment as a saga: the charge, then the ledger, then the receipt.
const std::vector<uint32_t> kSagaSteps = {0, 1, 2};

const std::vector<Scenario>& SagaScenarios() {
  static const auto* s = new std::vector<Scenario>{
      {"the saga completes", [](EngineHarness&) {}, Mode::kSaga},
      {"the last step is refused",
       [](EngineHarness& h) {
         h.Participant("notification")->ScriptActs({StepResult{StepResult::Kind::kRefused, "no"}});
       },
       Mode::kSaga},
      {"a refund in progress twice, an action unanswered twice",
       [](EngineHarness& h) {
         h.Participant("ledger")->ScriptActs(
             {absl::UnavailableError("down"), absl::UnavailableError("down")});
         h.Participant("notification")->ScriptActs({StepResult{StepResult::Kind::kRefused, "no"}});
         h.Participant("balance")->ScriptCompensations(
             {StepResult{StepResult::Kind::kInProgress, ""},
              StepResult{StepResult::Kind::kInProgress, ""}});
       },
       Mode::kSaga},
  };
  return *s;
}

const std::vector<Scenario>& Scenarios() {
  static const auto* s = new std::vector<Scenario>{
      {"every branch votes yes", [](EngineHarness&) {}},
      {"the ledger votes no",
       [](EngineHarness& h) {
         h.Participant("ledger")->SetVote(VoteResult{false, "journal closed"});
       }},
      {"balance misses two commits",
       [](EngineHarness& h) {
         h.Participant("balance")->FailCommits(2, absl::UnavailableError("restarting"));
       }},
  };
  return *s;
}

const std::vector<Scenario>& ThreePhaseScenarios() {
  static const auto* s = new std::vector<Scenario>{
      {"every branch votes yes and precommits", [](EngineHarness&) {}, Mode::kThreePhase},
      {"the ledger votes no",
       [](EngineHarness& h) {
         h.Participant("ledger")->SetVote(VoteResult{false, "journal closed"});
       },
       Mode::kThreePhase},
      {"the ledger misses a PreCommit, balance two Commits",
       [](EngineHarness& h) {
         h.Participant("ledger")->FailPreCommits(1, absl::UnavailableError("restarting"));
         h.Participant("balance")->FailCommits(2, absl::UnavailableError("restarting"));
       },
       Mode::kThreePhase},
      {"the ledger aborted on its timer before the PreCommit",
       [](EngineHarness& h) {
         h.Participant("ledger")->FailPreCommits(-1, absl::FailedPreconditionError("aborted"));
       },
       Mode::kThreePhase},
  };
  return *s;
}

enum class At { kBefore, kAfter };

struct Outcome {
  int txn_writes = 0;  // Records of the payment written by the first process.
  std::string txn_id;
  std::optional<absl::StatusOr<ExecuteResult>> told;  // What the first process told the caller.
};

// Runs one payment; at the payment's `crash_at`-th record (1-based; 0: never) the process dies
// before or after the write, and a new one finishes the work.
Outcome RunPayment(EngineHarness& h, const Scenario& scenario, int crash_at, At at, bool power_cut) {
  for (const std::string& name : kParticipants) h.Participant(name);
  h.Start();
  scenario.script(h);
  ExecuteParams payment = h.Payment("pay-1");
  payment.mode = scenario.mode;
  if (scenario.mode == Mode::kSaga) {
    for (size_t i = 0; i < payment.branches.size(); ++i) payment.branches[i].step = kSagaSteps[i];
  }
  auto slot = h.Begin(std::move(payment));
  Outcome out;
  bool crashed = false;
  for (int steps = 0; steps < 10000 && !crashed; ++steps) {
    std::optional<testing::MemoryLog::Queued> next = h.log_.PeekQueued();
    if (next.has_value()) {
      const bool ours = next->txn.has_value() && next->txn->idempotency_key() == "pay-1";
      if (ours) {
        out.txn_id = next->txn->txn_id();
        if (++out.txn_writes == crash_at) {
          if (at == At::kAfter) h.log_.ApplyOneSilently();
          h.Crash(power_cut);
          crashed = true;
          break;
        }
      }
      h.log_.CompleteOne();
      continue;
    }
    if (h.scheduler_.RunDue() > 0) continue;
    if (h.coordinator_->ActiveCount() == 0) break;
    h.scheduler_.AdvanceToNext(absl::Minutes(1));
  }
  out.told = *slot;
  if (crashed) h.Start();
  h.Settle();
  return out;
}

// Every action applied everywhere, or undone everywhere; none without a record of the saga.
void ExpectSagaConsistent(EngineHarness& h, const Outcome& out) {
  ASSERT_FALSE(out.txn_id.empty());
  EXPECT_EQ(h.coordinator_->ActiveCount(), 0u) << "the saga did not finish";
  auto logged = h.log_.Find(out.txn_id);
  ASSERT_TRUE(logged.ok());
  if (!logged->has_value()) {
    for (const std::string& name : kParticipants) {
      EXPECT_EQ(h.Participant(name)->acts(out.txn_id), 0) << name << " acted for an unlogged saga";
    }
    return;
  }
  const auto state = (*logged)->state();
  ASSERT_TRUE(state == storage::TXN_COMMITTED || state == storage::TXN_ABORTED)
      << TxnStateName(state);
  const bool committed = state == storage::TXN_COMMITTED;
  if (out.told.has_value() && out.told->ok()) {
    EXPECT_EQ((*out.told)->committed, committed) << "the caller was told otherwise";
  }
  for (const std::string& name : kParticipants) {
    EXPECT_EQ(h.Participant(name)->net_effect(out.txn_id), committed ? 1 : 0) << name;
  }
}

// Atomicity across both processes' calls, and the caller's COMMITTED stands.
void ExpectConsistent(EngineHarness& h, const Outcome& out) {
  ASSERT_FALSE(out.txn_id.empty());
  EXPECT_EQ(h.coordinator_->ActiveCount(), 0u) << "the transaction did not finish";
  auto decision = h.coordinator_->GetDecision(out.txn_id);
  ASSERT_TRUE(decision.ok());
  ASSERT_NE(*decision, Decision::kUndecided);
  const bool committed = *decision == Decision::kCommit;
  if (out.told.has_value() && out.told->ok() && (*out.told)->committed) {
    EXPECT_TRUE(committed) << "the caller was told COMMITTED";
  }
  for (const std::string& name : kParticipants) {
    SCOPED_TRACE(name);
    auto p = h.Participant(name);
    EXPECT_GE(p->prepares(out.txn_id), 1);
    if (committed) {
      EXPECT_GE(p->commits(out.txn_id), 1);
      EXPECT_EQ(p->aborts(out.txn_id), 0);
    } else {
      EXPECT_EQ(p->commits(out.txn_id), 0);
    }
  }
  // A finished record, unless no record survived: then GetDecision's presumed abort (above)
  // is what the participants hear.
  auto logged = h.log_.Find(out.txn_id);
  ASSERT_TRUE(logged.ok());
  if (logged->has_value()) {
    const auto state = (*logged)->state();
    EXPECT_TRUE(state == storage::TXN_COMMITTED || state == storage::TXN_ABORTED)
        << TxnStateName(state);
  } else {
    EXPECT_FALSE(committed);
  }
}

TEST(CrashPointsTest, TwoPhaseWritesThreeRecordsPerPayment) {
  for (const Scenario& scenario : Scenarios()) {
    SCOPED_TRACE(scenario.name);
    EngineHarness h;
    const Outcome out = RunPayment(h, scenario, /*crash_at=*/0, At::kBefore, false);
    EXPECT_EQ(out.txn_writes, 3);  // Begin, decision, finish.
    ExpectConsistent(h, out);
  }
}

// Every crash point of every scenario: before and after each record the payment writes (counted
// by a run without a crash, itself checked too), by kill -9 and by power cut. Returns the rows.
int EveryCrashPoint(const std::vector<Scenario>& scenarios,
                    const std::function<void(EngineHarness&, const Outcome&)>& check) {
  int rows = 0;
  for (const Scenario& scenario : scenarios) {
    int records = 0;
    {
      EngineHarness dry;
      const Outcome out = RunPayment(dry, scenario, /*crash_at=*/0, At::kBefore, false);
      records = out.txn_writes;
      check(dry, out);
    }
    for (int k = 1; k <= records; ++k) {
      for (At at : {At::kBefore, At::kAfter}) {
        for (bool power_cut : {false, true}) {
          SCOPED_TRACE(absl::StrCat(scenario.name, ": crash ", at == At::kBefore ? "before" : "after",
                                    " record ", k, " of ", records,
                                    power_cut ? " (power cut)" : " (kill -9)"));
          EngineHarness h;
          check(h, RunPayment(h, scenario, k, at, power_cut));
          ++rows;
        }
      }
    }
  }
  return rows;
}

TEST(CrashPointsTest, EveryTwoPhaseCrashPointEndsTheSameEverywhere) {
  EXPECT_EQ(EveryCrashPoint(Scenarios(), ExpectConsistent), 36);
}

TEST(CrashPointsTest, EverySagaCrashPointEndsAppliedEverywhereOrUndoneEverywhere) {
  const int rows = EveryCrashPoint(SagaScenarios(), ExpectSagaConsistent);
  std::printf("saga crash points: %d rows\n", rows);
  EXPECT_GE(rows, 3 * 4 * 4);
}

// The coordinator's side of three-phase commit: its recovery alone ends consistent (the
// participants' timers, which let them finish without it, are proven by the fault tests).
TEST(CrashPointsTest, EveryThreePhaseCrashPointEndsTheSameEverywhere) {
  const int rows = EveryCrashPoint(ThreePhaseScenarios(), ExpectConsistent);
  std::printf("three-phase crash points: %d rows\n", rows);
  EXPECT_GE(rows, 4 * 3 * 4);
}

TEST(CrashPointsTest, ACommitTheCallerHeardOfSurvivesAPowerCut) {
  EngineHarness h;
  // Crash right after the COMMIT record (the second), by power cut: it was forced, so it stays.
  const Outcome out = RunPayment(h, Scenarios()[0], /*crash_at=*/2, At::kAfter, /*power_cut=*/true);
  ASSERT_TRUE(out.told.has_value() == false || out.told->ok());
  EXPECT_EQ(*h.coordinator_->GetDecision(out.txn_id), Decision::kCommit);
  ExpectConsistent(h, out);
}

TEST(CrashPointsTest, ADecisionThatCannotBeWrittenAbortsAndTellsTheCallerUnavailable) {
  EngineHarness h;
  for (const std::string& name : kParticipants) h.Participant(name);
  h.Start();
  auto slot = h.Begin(h.Payment("pay-disk-full"));
  ASSERT_TRUE(h.log_.CompleteOne());  // The begin record.
  h.log_.FailNextWrites(1);           // The COMMIT record: the disk is full.
  h.Settle();
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->status().code(), absl::StatusCode::kUnavailable);
  auto snap = h.coordinator_->GetTransactionByKey("pay-disk-full");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->record.state(), storage::TXN_ABORTED);
  for (const std::string& name : kParticipants) {
    EXPECT_EQ(h.Participant(name)->commits(snap->record.txn_id()), 0) << name;
    EXPECT_EQ(h.Participant(name)->aborts(snap->record.txn_id()), 1) << name;
  }
}

}  // namespace
}  // namespace settle::engine
