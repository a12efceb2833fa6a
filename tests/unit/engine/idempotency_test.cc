// One idempotency key, several callers: one transaction, and `replayed` tells exactly one caller
// (the one that began it) apart from all the others, concurrent ones included.

#include <memory>

#include "gtest/gtest.h"
#include "tests/unit/engine/coordinator_fixture.h"

namespace settle::engine {
namespace {

using IdempotencyTest = CoordinatorTest;

TEST_F(IdempotencyTest, OnlyTheCallThatBeganATransactionIsNotReplayed) {
  Participant("balance");
  Participant("ledger");
  auto notification = Participant("notification");
  notification->FailCommits(-1, absl::UnavailableError("busy"));
  Start();
  // Both wait for every acknowledgement, so both are still waiting when the second joins.
  std::vector<Slot> answers;
  for (int i = 0; i < 3; ++i) {
    ExecuteParams p = Payment("one-key");
    p.wait_for_acks = true;
    answers.push_back(Begin(std::move(p)));
  }
  Drain();
  for (auto& answer : answers) EXPECT_FALSE(answer->has_value());
  notification->FailCommits(0, absl::OkStatus());
  ASSERT_TRUE(Eventually([&] { return answers.back()->has_value(); }));
  std::vector<ExecuteResult> results;
  for (auto& answer : answers) {
    ASSERT_TRUE(answer->has_value());
    ASSERT_TRUE((*answer)->ok()) << (*answer)->status();
    results.push_back(***answer);
  }
  EXPECT_FALSE(results[0].replayed);
  for (size_t i = 1; i < results.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(results[i].replayed);
    EXPECT_EQ(results[i].txn_id, results[0].txn_id);
    EXPECT_TRUE(results[i].committed);
  }
  // And later, once finished, a repeat is replayed from the log.
  auto later = Execute(Payment("one-key"));
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(later->replayed);
}

// Found by settle-chaos: a three-phase payment whose PreCommit was repeated dropped its payloads
// from memory before its COMMIT record was written, so the log kept no body and a retry of the
// key was refused ALREADY_EXISTS. Every record up to the decision keeps the payloads.
TEST_F(IdempotencyTest, AThreePhaseRetryAfterARepeatedPreCommitIsReplayed) {
  Participant("balance");
  Participant("notification");
  Participant("ledger")->FailPreCommits(2, absl::UnavailableError("restarting"));
  Start();
  ExecuteParams p = Payment("three-phase-key");
  p.mode = Mode::kThreePhase;
  ExecuteParams again = p;
  auto first = Execute(std::move(p));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->committed);
  ASSERT_TRUE(Eventually([&] { return coordinator_->ActiveCount() == 0; }));
  auto later = Execute(std::move(again));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_TRUE(later->replayed);
  EXPECT_EQ(later->txn_id, first->txn_id);
}

}  // namespace
}  // namespace settle::engine
