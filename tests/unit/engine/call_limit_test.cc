// --max_calls_per_participant: a slow participant never accumulates an unbounded queue of calls
// from the coordinator. New payments that need it are refused while it is full; a decided
// outcome's call waits its backoff; nothing is lost once it answers again.

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/coordinator_fixture.h"

namespace settle::engine {
namespace {

TEST_F(CoordinatorTest, ASlowParticipantWithItsCallsFullRefusesNewPaymentsThatNeedIt) {
  options_.max_calls_per_participant = 2;
  auto ledger = Participant("ledger");
  Participant("balance");
  Start();
  ledger->Hold(true);
  Slot first = Begin(Payment("k1", {"balance", "ledger"}));
  Slot second = Begin(Payment("k2", {"balance", "ledger"}));
  Drain();
  EXPECT_FALSE(first->has_value());
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(ledger->total_calls(), 2);
  EXPECT_EQ(coordinator_->CallsInFlight("ledger"), 2);
  EXPECT_EQ(coordinator_->CallsInFlight("balance"), 0);

  auto refused = Execute(Payment("k3", {"balance", "ledger"}));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("ledger"), std::string::npos);
  EXPECT_EQ(ledger->total_calls(), 2);  // Nothing more was sent its way.
  // A payment that does not need it goes on.
  auto other = Execute(Payment("k4", {"balance"}));
  ASSERT_TRUE(other.ok() && other->committed);

  // The ledger answers: the two commit, their Commits get through as room frees up.
  ledger->Hold(false);
  EXPECT_EQ(ledger->ReleaseHeld(), 2);
  ASSERT_TRUE(Eventually([&] { return coordinator_->ActiveCount() == 0; }));
  EXPECT_EQ(coordinator_->CallsInFlight("ledger"), 0);
  ASSERT_TRUE(first->has_value() && (*first)->ok() && (**first)->committed);
  ASSERT_TRUE(second->has_value() && (*second)->ok() && (**second)->committed);
  auto retried = Execute(Payment("k3", {"balance", "ledger"}));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(retried->committed);
}

TEST_F(CoordinatorTest, ACallThatFindsNoRoomIsNotMadeAndADecidedOneWaitsItsTurn) {
  options_.max_calls_per_participant = 1;
  auto ledger = Participant("ledger");
  Start();
  // Two branches at one participant with room for one call: the second Prepare is not made,
  // which counts as unanswered, so the payment aborts; the Abort waits for room.
  ledger->Hold(true);
  Slot r = Begin(Payment("k1", {"ledger", "ledger"}));
  Drain();
  ASSERT_TRUE(r->has_value());
  ASSERT_TRUE((*r)->ok());
  EXPECT_FALSE((**r)->committed);
  EXPECT_EQ((**r)->refused_branch, 1);
  const std::string txn = (**r)->txn_id;
  EXPECT_EQ(ledger->prepares(txn), 1);
  ledger->Hold(false);
  ledger->ReleaseHeld();
  ASSERT_TRUE(Eventually([&] { return coordinator_->ActiveCount() == 0; }));
  EXPECT_EQ(ledger->aborts(txn), 2);  // Both branches hear the ABORT once room is free.
}

}  // namespace
}  // namespace settle::engine
