// One idempotency key, several callers: one transaction, and `replayed` tells exactly one caller
// (the one that began it) apart from all the others, concurrent ones included.

#include <future>
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
  std::vector<std::promise<absl::StatusOr<ExecuteResult>>> answers(3);
  for (auto& answer : answers) {
    ExecuteParams p = Payment("one-key");
    p.wait_for_acks = true;
    coordinator_->Execute(std::move(p), [&answer](absl::StatusOr<ExecuteResult> r) {
      answer.set_value(std::move(r));
    });
  }
  notification->FailCommits(0, absl::OkStatus());
  std::vector<ExecuteResult> results;
  for (auto& answer : answers) {
    auto r = answer.get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    results.push_back(*r);
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

}  // namespace
}  // namespace settle::engine
