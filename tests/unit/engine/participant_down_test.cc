// A participant that is down: decided transactions wait for it without holding up payments that
// do not need it, payments that need it are refused fast, and the backlog drains once it is back.

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/txn_id.h"
#include "tests/unit/engine/coordinator_fixture.h"

namespace settle::engine {
namespace {

class ParticipantDownTest : public CoordinatorTest {
 protected:
  void KeepCircuitsClosed() {
    breaker_.failure_threshold = 1000000;
    registry_ = std::make_unique<Registry>(log_, factory_, breaker_);
  }
  // notification refuses every connection: Prepares fail, Aborts cannot be delivered.
  void TakeDown(ScriptedParticipant& p) {
    p.SetVote(absl::UnavailableError("connection refused"));
    p.FailAborts(-1, absl::UnavailableError("connection refused"));
    p.FailCommits(-1, absl::UnavailableError("connection refused"));
  }
  // balance and ledger up, notification down, the coordinator started; returns notification.
  std::shared_ptr<ScriptedParticipant> StartWithNotificationDown() {
    Participant("balance");
    Participant("ledger");
    auto notification = Participant("notification");
    TakeDown(*notification);
    Start();
    return notification;
  }
  void BringBack(ScriptedParticipant& p) {
    p.SetVote(VoteResult{true, ""});
    p.FailAborts(0, absl::OkStatus());
    p.FailCommits(0, absl::OkStatus());
  }
  // Executes payments that need the down participant until one is refused; returns the ids of
  // those that were answered (all aborted).
  std::vector<std::string> PayUntilRefused(absl::Status* refused) {
    std::vector<std::string> ids;
    for (int i = 0; i < 50; ++i) {
      auto r = Execute(Payment(absl::StrCat("down-", i)));
      if (!r.ok()) {
        *refused = r.status();
        break;
      }
      EXPECT_FALSE(r->committed);
      ids.push_back(r->txn_id);
    }
    return ids;
  }
  // Persisted finished transactions ahead of everything the coordinator will begin.
  void LogFinished(int n, storage::TxnStateRecord state) {
    storage::LogBatch batch;
    for (int i = 0; i < n; ++i) {
      storage::TxnRecord rec;
      rec.set_txn_id(storage::TxnIdFor(options_.shard, 1000 + i));
      rec.set_idempotency_key(absl::StrCat("old-", i));
      rec.set_state(state);
      rec.set_begin_micros(1000 + i);
      rec.add_branches()->set_participant("balance");
      batch.Begin(rec);
      batch.Finish(rec);
    }
    ASSERT_TRUE(log_.WriteAndWait(std::move(batch), false).ok());
  }
};

TEST_F(ParticipantDownTest, WaitingDecidedTransactionsDoNotCountAgainstMaxInFlight) {
  KeepCircuitsClosed();  // Only admission control is under test here.
  options_.max_in_flight = 3;
  StartWithNotificationDown();
  for (int i = 0; i < 10; ++i) {
    auto r = Execute(Payment(absl::StrCat("needs-notification-", i)));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->committed);
  }
  EXPECT_GE(coordinator_->ActiveCount(), 10u);  // All ten wait to deliver their Abort.
  for (int i = 0; i < 10; ++i) {
    auto r = Execute(Payment(absl::StrCat("other-", i), {"balance", "ledger"}));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->committed);
  }
}

TEST_F(ParticipantDownTest, APaymentThatNeedsADownParticipantIsRefusedAtOnceNamingIt) {
  auto balance = Participant("balance");
  Participant("ledger");
  TakeDown(*Participant("notification"));
  Start();
  absl::Status refused;
  const std::vector<std::string> aborted = PayUntilRefused(&refused);
  ASSERT_FALSE(refused.ok()) << "the circuit never opened";
  EXPECT_LE(aborted.size(), 5u);  // The threshold: five unreachable answers.
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("'notification'"), std::string::npos) << refused;
  const int balance_calls = balance->total_calls();
  auto again = Execute(Payment("down-refused-again"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(balance->total_calls(), balance_calls);  // Nothing was prepared for it.
  auto other = Execute(Payment("other", {"balance", "ledger"}));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->committed);
}

TEST_F(ParticipantDownTest, RetriesToADownParticipantAreProbesNotOneCallPerTransaction) {
  auto notification = StartWithNotificationDown();
  absl::Status refused;
  const std::vector<std::string> waiting = PayUntilRefused(&refused);
  ASSERT_FALSE(waiting.empty());
  auto attempts = [&] {
    int n = 0;
    for (const auto& id : waiting) {
      auto snap = coordinator_->GetTransaction(id);
      for (const auto& d : snap->delivery) n += static_cast<int>(d.attempts);
    }
    return n;
  };
  const int calls_before = notification->total_calls();
  const int attempts_before = attempts();
  ASSERT_TRUE(Eventually(
      [&] { return attempts() >= attempts_before + 10 * static_cast<int>(waiting.size()); }));
  const int calls = notification->total_calls() - calls_before;
  const int retries = attempts() - attempts_before;
  // Each retry of each transaction would be a call without the breaker; with it, only probes.
  EXPECT_LT(calls, retries / 2) << calls << " calls for " << retries << " retries";
}

TEST_F(ParticipantDownTest, TheBacklogDrainsOnceTheParticipantAnswersAgain) {
  auto notification = StartWithNotificationDown();
  absl::Status refused;
  const std::vector<std::string> waiting = PayUntilRefused(&refused);
  ASSERT_FALSE(refused.ok());
  BringBack(*notification);
  ASSERT_TRUE(Eventually([&] { return coordinator_->ActiveCount() == 0; }));
  for (const auto& id : waiting) {
    EXPECT_TRUE(Finished(id));
    EXPECT_GE(notification->aborts(id), 1);
  }
  // The circuit closed by itself: payments that need notification commit again.
  ASSERT_TRUE(Eventually([&] {
    auto r = Execute(Payment("after-return"));
    return r.ok() && r->committed;
  }));
}

// A waiting transaction drops its payloads from memory; a replay of its key is still compared
// against them (from the logged decision), and its finished record keeps them.
TEST_F(ParticipantDownTest, AWaitingTransactionShedsPayloadsButKeepsThemInTheLog) {
  KeepCircuitsClosed();
  auto notification = StartWithNotificationDown();
  auto first = Execute(Payment("k"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(Eventually(
      [&] { return coordinator_->GetTransaction(first->txn_id)->delivery[2].attempts > 0; }));
  auto replay = Execute(Payment("k"));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->txn_id, first->txn_id);
  ExecuteParams other = Payment("k");
  other.branches[0].payload = "another body";
  EXPECT_EQ(Execute(other).status().code(), absl::StatusCode::kAlreadyExists);

  BringBack(*notification);
  ASSERT_TRUE(Eventually([&] { return Finished(first->txn_id); }));
  auto finished = log_.FindFinished(first->txn_id);
  ASSERT_TRUE(finished.ok() && finished->has_value());
  EXPECT_EQ((*finished)->branches(0).payload(), "payload-balance");
  EXPECT_EQ((*finished)->branches(2).payload(), "payload-notification");
}

// Listing what is not terminal reads the active set only: a long finished history before it
// changes neither the answer nor makes the first page empty.
TEST_F(ParticipantDownTest, ActiveTransactionsAreListedPastAnyNumberOfFinishedOnes) {
  KeepCircuitsClosed();
  LogFinished(25000, storage::TXN_COMMITTED);
  StartWithNotificationDown();
  auto waiting = Execute(Payment("waits"));
  ASSERT_TRUE(waiting.ok());
  ListParams params;
  params.states = {storage::TXN_PREPARING, storage::TXN_COMMITTING, storage::TXN_ABORTING};
  params.page_size = 1;
  auto page = coordinator_->List(params);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->transactions.size(), 1u);
  EXPECT_EQ(page->transactions[0].record.txn_id(), waiting->txn_id);
}

TEST_F(ParticipantDownTest, AFilteredPageIsNeverEmptyWhileALaterOneHoldsAMatch) {
  auto balance = Participant("balance");
  LogFinished(25000, storage::TXN_COMMITTED);
  Start();
  balance->SetVote(VoteResult{false, "insufficient funds"});
  auto refused = Execute(Payment("refused", {"balance"}));
  ASSERT_TRUE(refused.ok());
  ASSERT_TRUE(Eventually([&] { return Finished(refused->txn_id); }));
  ListParams params;
  params.states = {storage::TXN_ABORTED};
  params.page_size = 10;
  auto page = coordinator_->List(params);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->transactions.size(), 1u);
  EXPECT_EQ(page->transactions[0].record.txn_id(), refused->txn_id);
}

}  // namespace
}  // namespace settle::engine
