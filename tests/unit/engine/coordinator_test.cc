#include "server/engine/coordinator.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/coordinator_fixture.h"

namespace settle::engine {
namespace {

TEST_F(CoordinatorTest, CommitsWhenEveryBranchVotesYes) {
  auto balance = Participant("balance"), ledger = Participant("ledger"),
       notification = Participant("notification");
  Start();
  auto r = Execute(Payment("k1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->committed);
  ASSERT_TRUE(Eventually([&] { return Finished(r->txn_id); }));
  for (const auto& p : {balance, ledger, notification}) {
    EXPECT_EQ(p->prepares(r->txn_id), 1);
    EXPECT_EQ(p->commits(r->txn_id), 1);
    EXPECT_EQ(p->aborts(r->txn_id), 0);
  }
  EXPECT_EQ(*coordinator_->GetDecision(r->txn_id), Decision::kCommit);
}

// More than one sweep batch is due at once: every batch follows the last without waiting for
// the next interval, and what is removed is gone from queries and the key index.
TEST_F(CoordinatorTest, RetentionRemovesFinishedTransactionsInBatches) {
  Participant("balance");
  options_.retention = absl::Milliseconds(1);
  options_.retention_sweep_interval = absl::Seconds(2);
  Start();
  constexpr int kPayments = 2500;
  std::vector<Slot> results;
  for (int i = 0; i < kPayments; ++i) {
    results.push_back(Begin(Payment(absl::StrCat("r", i), {"balance"})));
  }
  Drain();
  std::vector<std::string> ids;
  for (auto& r : results) {
    ASSERT_TRUE(r->has_value());
    ASSERT_TRUE((*r)->ok()) << (*r)->status();
    ids.push_back((**r)->txn_id);
  }
  ASSERT_TRUE(Eventually([&] {
    for (const auto& id : ids) {
      if (coordinator_->GetTransaction(id).status().code() != absl::StatusCode::kNotFound) {
        return false;
      }
    }
    return true;
  }, absl::Milliseconds(3500)));  // One interval: a second one would come too late.
  EXPECT_FALSE(log_.FindTxnIdByKey("r0")->has_value());
  EXPECT_FALSE(log_.FindTxnIdByKey(absl::StrCat("r", kPayments - 1))->has_value());
}

TEST_F(CoordinatorTest, AbortsAllBranchesWhenOneVotesNo) {
  auto balance = Participant("balance"), ledger = Participant("ledger"),
       notification = Participant("notification");
  balance->SetVote(VoteResult{false, "insufficient funds"});
  Start();
  auto r = Execute(Payment("k1"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->committed);
  EXPECT_EQ(r->refused_branch, 0);
  EXPECT_EQ(r->refused_participant, "balance");
  EXPECT_EQ(r->reason, "insufficient funds");
  ASSERT_TRUE(Eventually([&] { return Finished(r->txn_id); }));
  // The branch that said NO recorded its own abort; the others are told, even before their
  // Prepare was answered (a tombstone then refuses it).
  EXPECT_EQ(balance->aborts(r->txn_id), 0);
  EXPECT_EQ(ledger->aborts(r->txn_id), 1);
  EXPECT_EQ(notification->aborts(r->txn_id), 1);
  for (const auto& p : {balance, ledger, notification}) EXPECT_EQ(p->commits(r->txn_id), 0);
  EXPECT_EQ(*coordinator_->GetDecision(r->txn_id), Decision::kAbort);
}

// No outcome is announced before its records are in the log. The begin goes out with the
// Prepares unwritten; were an ABORT announced first, a crash could forget the answered key and
// its retry would run as a new transaction, one that may commit.
TEST_F(CoordinatorTest, AnAbortIsAnnouncedOnlyOnceItsRecordIsWritten) {
  auto balance = Participant("balance");
  balance->SetVote(VoteResult{false, "insufficient funds"});
  Start();

  log_.SetWritesFail(true);
  auto r = Execute(Payment("k1", {"balance"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("Retry with the same idempotency key"), std::string::npos)
      << r.status();

  log_.SetWritesFail(false);
  auto read = [&] {
    auto again = Execute(Payment("k1", {"balance"}));
    EXPECT_TRUE(again.ok()) << again.status();
    return again.ok() && !again->committed && again->replayed;
  };
  ASSERT_TRUE(Eventually(read));
  // A restart on the same log still knows the key: its retry is the same, aborted transaction.
  Restart();
  auto after = Execute(Payment("k1", {"balance"}));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_FALSE(after->committed);
  EXPECT_TRUE(after->replayed);
  EXPECT_EQ(balance->prepares(after->txn_id), 1);
}

// Ids never repeat, even when a crash lost the begin records of ids already sent out with
// their Prepares and the clock then stepped back: every id lies below a ceiling that was
// durable before it was issued, and a restart starts past it.
TEST_F(CoordinatorTest, IdsNeverRepeatAfterLostBeginsAndAClockStepBack) {
  auto balance = Participant("balance");
  Start();
  log_.SetWritesFail(true);
  auto lost = Execute(Payment("k-lost", {"balance"}));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable) << lost.status();
  auto lost_txn = coordinator_->GetTransactionByKey("k-lost");
  ASSERT_TRUE(lost_txn.ok()) << lost_txn.status();
  const std::string lost_id = lost_txn->record.txn_id();
  EXPECT_EQ(balance->prepares(lost_id), 1);  // Out with its Prepare; nothing in the log.

  // The process dies; the disk is back; the clock is an hour behind.
  Crash();
  log_.SetWritesFail(false);
  clock_.Advance(-absl::Hours(1));
  Start();
  EXPECT_EQ(coordinator_->GetTransaction(lost_id).status().code(), absl::StatusCode::kNotFound);
  auto next = Execute(Payment("k-next", {"balance"}));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_GT(next->txn_id, lost_id);
}

// A clock that jumps ahead of the reservation: Execute answers UNAVAILABLE (retry) until a
// reservation covers the new time, and never issues an id that is not covered.
TEST_F(CoordinatorTest, AClockJumpAheadWaitsForANewReservation) {
  Participant("balance");
  Start();
  ASSERT_TRUE(Execute(Payment("k-before", {"balance"})).ok());
  clock_.Advance(absl::Hours(1));
  auto refused = Execute(Payment("k-after", {"balance"}));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  // The refusal asked for a reservation; the same key succeeds once it is written.
  ASSERT_TRUE(Eventually([&] { return Execute(Payment("k-after", {"balance"})).ok(); }));
}

TEST_F(CoordinatorTest, AbortsWhenAPrepareFailsOrTimesOut) {
  for (absl::StatusCode code :
       {absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kUnavailable,
        absl::StatusCode::kInternal}) {
    SCOPED_TRACE(absl::StatusCodeToString(code));
    auto ledger = Participant("ledger");
    ledger->SetVote(absl::Status(code, "no answer"));
    Participant("balance");
    if (coordinator_ == nullptr) Start();
    auto r = Execute(Payment(absl::StrCat("k-", code), {"balance", "ledger"}));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->committed);
    EXPECT_EQ(r->refused_participant, "ledger");
    ASSERT_TRUE(Eventually([&] { return Finished(r->txn_id); }));
    // The failed branch may have prepared without our hearing it: it must be told.
    EXPECT_EQ(ledger->aborts(r->txn_id), 1);
  }
}

TEST_F(CoordinatorTest, SameKeySameBodyReturnsTheFirstOutcome) {
  auto balance = Participant("balance");
  Start();
  auto first = Execute(Payment("k1", {"balance"}));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(Eventually([&] { return Finished(first->txn_id); }));
  auto again = Execute(Payment("k1", {"balance"}));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->txn_id, first->txn_id);
  EXPECT_TRUE(again->committed);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(balance->prepares(first->txn_id), 1);
}

TEST_F(CoordinatorTest, SameKeyWithAnotherBodyIsRefused) {
  Participant("balance");
  Participant("ledger");
  Start();
  ASSERT_TRUE(Execute(Payment("k1", {"balance"})).ok());
  auto other = Execute(Payment("k1", {"ledger"}));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(CoordinatorTest, RejectsBadInputWithPreciseCodes) {
  Participant("balance");
  Start();
  struct Case {
    const char* name;
    std::function<void(ExecuteParams&)> mutate;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"missing key", [](ExecuteParams& p) { p.idempotency_key.clear(); },
       absl::StatusCode::kInvalidArgument},
      {"key too long", [](ExecuteParams& p) { p.idempotency_key.assign(300, 'k'); },
       absl::StatusCode::kInvalidArgument},
      {"no branches", [](ExecuteParams& p) { p.branches.clear(); },
       absl::StatusCode::kInvalidArgument},
      {"unknown participant", [](ExecuteParams& p) { p.branches[0].participant = "nobody"; },
       absl::StatusCode::kNotFound},
      {"bad participant name", [](ExecuteParams& p) { p.branches[0].participant = "Bad Name"; },
       absl::StatusCode::kInvalidArgument},
      {"oversized payload", [](ExecuteParams& p) { p.branches[0].payload.assign(65537, 'x'); },
       absl::StatusCode::kResourceExhausted},
      {"zero timeout", [](ExecuteParams& p) { p.timeout = absl::ZeroDuration(); },
       absl::StatusCode::kInvalidArgument},
      {"absurd timeout", [](ExecuteParams& p) { p.timeout = absl::Hours(24 * 365); },
       absl::StatusCode::kInvalidArgument},
      {"steps outside a saga", [](ExecuteParams& p) { p.branches[0].step = 1; },
       absl::StatusCode::kInvalidArgument},
      {"a saga with a gap in its steps",
       [](ExecuteParams& p) {
         p.mode = Mode::kSaga;
         p.branches[0].step = 1;
       },
       absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ExecuteParams p = Payment("k-bad", {"balance"});
    c.mutate(p);
    auto r = Execute(std::move(p));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_FALSE(r.status().message().empty());
  }
  EXPECT_EQ(coordinator_->ActiveCount(), 0u);  // Nothing half-started.
  EXPECT_EQ(factory_.At("balance:1")->total_calls(), 0);
}

// Three-phase branches call each other when the coordinator is gone; a participant its channel
// says the others cannot call (one reached only through RabbitMQ) is refused there, and only
// there.
TEST_F(CoordinatorTest, ThreePhaseRefusesAParticipantItsPeersCannotCall) {
  Participant("balance");
  Participant("ledger")->SetCallableByPeers(false);
  Start();
  ExecuteParams three = Payment("k-3pc", {"balance", "ledger"});
  three.mode = Mode::kThreePhase;
  auto refused = Execute(std::move(three));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "'ledger'")) << refused.status();
  EXPECT_EQ(factory_.At("ledger:1")->total_calls(), 0);

  auto two = Execute(Payment("k-2pc", {"balance", "ledger"}));
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_TRUE(two->committed);
}

TEST_F(CoordinatorTest, RetriesCommitUntilAcknowledged) {
  auto balance = Participant("balance");
  balance->FailCommits(5, absl::UnavailableError("down"));
  Start();
  auto r = Execute(Payment("k1", {"balance"}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->committed);  // Returned once durable, before the acknowledgement.
  ASSERT_TRUE(Eventually([&] { return Finished(r->txn_id); }));
  EXPECT_EQ(balance->commits(r->txn_id), 6);
}

TEST_F(CoordinatorTest, WaitForAcksReturnsOnlyOnceAcknowledged) {
  auto balance = Participant("balance");
  balance->FailCommits(3, absl::UnavailableError("down"));
  Start();
  ExecuteParams p = Payment("k1", {"balance"});
  p.wait_for_acks = true;
  auto r = Execute(std::move(p));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(balance->commits(r->txn_id), 4);
}

TEST_F(CoordinatorTest, UndeliverableDecisionIsReportedStuckAndStillRetried) {
  options_.stuck_after = absl::Milliseconds(50);
  auto balance = Participant("balance");
  balance->FailCommits(-1, absl::UnavailableError("down"));
  Start();
  auto r = Execute(Payment("k1", {"balance"}));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(Eventually([&] {
    auto snap = coordinator_->GetTransaction(r->txn_id);
    return snap.ok() && snap->stuck && snap->delivery[0].attempts >= 5;
  }));
  auto snap = coordinator_->GetTransaction(r->txn_id);
  EXPECT_EQ(snap->record.state(), storage::TXN_COMMITTING);
  EXPECT_FALSE(snap->delivery[0].last_error.empty());
  balance->FailCommits(0, absl::OkStatus());  // The participant heals.
  ASSERT_TRUE(Eventually([&] { return Finished(r->txn_id); }));
}

TEST_F(CoordinatorTest, RecoveryCommitsALoggedCommitAndAbortsAnUndecidedOne) {
  auto balance = Participant("balance");
  storage::TxnRecord committing, preparing;
  for (auto* rec : {&committing, &preparing}) {
    rec->set_mode(storage::MODE_RECORD_TWO_PHASE);
    rec->set_begin_micros(absl::ToUnixMicros(clock_.Now()));
    auto* b = rec->add_branches();
    b->set_participant("balance");
    b->set_state(storage::BRANCH_PREPARED);
  }
  committing.set_txn_id("s0-00000000000000a1");
  committing.set_idempotency_key("k-commit");
  committing.set_state(storage::TXN_COMMITTING);
  preparing.set_txn_id("s0-00000000000000a2");
  preparing.set_idempotency_key("k-prepare");
  preparing.set_state(storage::TXN_PREPARING);
  storage::LogBatch batch;
  batch.Begin(committing);
  batch.Begin(preparing);
  ASSERT_TRUE(log_.WriteAndWait(std::move(batch), true).ok());

  Start();
  ASSERT_TRUE(Eventually([&] { return Finished(committing.txn_id()) && Finished(preparing.txn_id()); }));
  EXPECT_EQ(balance->commits(committing.txn_id()), 1);
  EXPECT_EQ(balance->aborts(committing.txn_id()), 0);
  EXPECT_EQ(balance->aborts(preparing.txn_id()), 1);
  EXPECT_EQ(balance->commits(preparing.txn_id()), 0);
  // New ids continue past the recovered ones.
  auto r = Execute(Payment("k-new", {"balance"}));
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->txn_id, preparing.txn_id());
}

TEST_F(CoordinatorTest, UnknownTransactionIsPresumedAborted) {
  Start();
  EXPECT_EQ(*coordinator_->GetDecision("s0-never"), Decision::kAbort);
  EXPECT_EQ(coordinator_->GetTransaction("s0-never").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, OperatorAbortsOnlyUndecidedTransactions) {
  auto balance = Participant("balance");
  Start();
  auto r = Execute(Payment("k1", {"balance"}));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(Eventually([&] { return Finished(r->txn_id); }));
  EXPECT_EQ(coordinator_->Abort(r->txn_id, "late").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(coordinator_->Abort("s0-never", "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, ListFiltersByStateAndParticipantAndPages) {
  Participant("balance")->SetVote(VoteResult{false, "no"});
  Participant("ledger");
  Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = Execute(Payment(absl::StrCat("k", i), {i % 2 ? "balance" : "ledger"}));
    ASSERT_TRUE(r.ok());
    ids.push_back(r->txn_id);
  }
  ASSERT_TRUE(Eventually([&] { return coordinator_->ActiveCount() == 0; }));
  ListParams p;
  p.states = {storage::TXN_COMMITTED};
  auto committed = coordinator_->List(p);
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ(committed->transactions.size(), 3u);
  p = ListParams();
  p.participant = "balance";
  EXPECT_EQ(coordinator_->List(p)->transactions.size(), 2u);
  p = ListParams();
  p.page_size = 2;
  std::vector<std::string> paged;
  do {
    auto page = coordinator_->List(p);
    ASSERT_TRUE(page.ok());
    for (const auto& t : page->transactions) paged.push_back(t.record.txn_id());
    p.page_token = page->next_page_token;
  } while (!p.page_token.empty());
  EXPECT_EQ(paged, ids);
  p.page_size = 5000;
  EXPECT_EQ(coordinator_->List(p).status().code(), absl::StatusCode::kInvalidArgument);
  p = ListParams();
  p.mode = storage::MODE_RECORD_TWO_PHASE;
  EXPECT_EQ(coordinator_->List(p)->transactions.size(), 5u);
  p.mode = storage::MODE_RECORD_SAGA;
  EXPECT_EQ(coordinator_->List(p)->transactions.size(), 0u);
}

TEST_F(CoordinatorTest, ListFindsTheStuckOnesOnly) {
  options_.stuck_after = absl::Milliseconds(100);
  Participant("balance");
  Participant("ledger");
  Start();
  auto fine = Execute(Payment("fine", {"balance", "ledger"}));
  ASSERT_TRUE(fine.ok() && fine->committed);
  Participant("ledger")->FailCommits(-1, absl::UnavailableError("down"));
  auto stuck = Execute(Payment("stuck", {"balance", "ledger"}));
  ASSERT_TRUE(stuck.ok() && stuck->committed);
  ListParams p;
  p.stuck_only = true;
  ASSERT_TRUE(Eventually([&] { return coordinator_->List(p)->transactions.size() == 1; }));
  EXPECT_EQ(coordinator_->List(p)->transactions[0].record.txn_id(), stuck->txn_id);
  EXPECT_TRUE(coordinator_->List(p)->transactions[0].stuck);
}

}  // namespace
}  // namespace settle::engine
