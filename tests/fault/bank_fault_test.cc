// The bank check under faults: real processes, kill -9 and SIGSTOP at random instants while
// concurrent clients move money; then the system heals and the checker proves the invariants.

#include <signal.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fault/fault_test.h"

namespace settle::fault {
namespace {

class BankFaultTest : public FaultTest {
 protected:
  void SetUp() override {
    StartBankStack(stack_, bank_);
  }

  void KillAndRestartCoordinator() {
    Kill(stack_.coordinator(), "the coordinator");
    if (HasFatalFailure()) return;
    const absl::Status started = stack_.StartCoordinator();
    ASSERT_TRUE(started.ok()) << started;
  }

  void KillAndRestartParticipant(const std::string& kind) {
    Kill(stack_.participant(kind), kind);
    if (HasFatalFailure()) return;
    const absl::Status started = stack_.StartParticipant(kind, ParticipantFlags());
    ASSERT_TRUE(started.ok()) << started;
  }

  void HealAndCheck() { FaultTest::HealAndCheck(bank_, absl::Seconds(90)); }

  launch::LocalStack stack_;
  // A quarter of the payments are card sagas: every fault below lands on both modes.
  Bank bank_{stack_, MixedModes()};
};

TEST_F(BankFaultTest, CoordinatorKilledAtRandomInstantsUnderLoad) {
  bank_.Start();
  for (int i = 0; i < 30; ++i) {
    // Each life of the coordinator answers at least one payment before it is killed: on a
    // loaded machine (TSan, or two fault tests on two cores) a restarted coordinator can spend
    // a whole 50-400 ms life starting up, and 30 such kills would test nothing.
    const int64_t answered = bank_.payments();
    ASSERT_TRUE(launch::WaitFor([&] { return bank_.payments() > answered; }, absl::Seconds(60)))
        << "no payment got through after " << faults_ << " restarts";
    PauseRandomly(50, 400);
    KillAndRestartCoordinator();
    ASSERT_FALSE(HasFatalFailure()) << "after " << faults_ << " restarts";
    ++faults_;
  }
  PauseRandomly(200, 300);
  EXPECT_GE(bank_.payments(), 30);
  HealAndCheck();
}

TEST_F(BankFaultTest, EachParticipantKilledUnderLoad) {
  bank_.Start();
  for (int round = 0; round < 4; ++round) {
    for (const char* kind : {"balance", "ledger", "notification", "gateway"}) {
      PauseRandomly(100, 500);
      KillAndRestartParticipant(kind);
      ASSERT_FALSE(HasFatalFailure()) << "after " << faults_ << " restarts";
      ++faults_;
    }
  }
  PauseRandomly(200, 300);
  EXPECT_GT(bank_.payments(), 10);
  HealAndCheck();
}

TEST_F(BankFaultTest, ParticipantPausedPastThePrepareDeadlineAborts) {
  bank_.Start();
  PauseRandomly(300, 500);
  // Longer than the 2 s transaction timeout: Prepares in flight time out and abort; the
  // participant then sees them late and refuses them.
  stack_.participant("ledger").Signal(SIGSTOP);
  absl::SleepFor(absl::Seconds(3));
  stack_.participant("ledger").Signal(SIGCONT);
  ++faults_;
  PauseRandomly(500, 800);
  HealAndCheck();
  v1::ListTransactionsRequest req;
  req.add_states(v1::TXN_STATE_ABORTED);
  req.set_participant("ledger");
  auto aborted = stack_.client().ListTransactions(req);
  ASSERT_TRUE(aborted.ok());
  EXPECT_GT(aborted->transactions_size(), 0) << "the pause aborted nothing";
}

TEST_F(BankFaultTest, CoordinatorAndParticipantsKilledTogether) {
  bank_.Start();
  for (int i = 0; i < 6; ++i) {
    PauseRandomly(100, 400);
    stack_.coordinator().Signal(SIGKILL);
    const char* kind = i % 3 == 0 ? "balance" : i % 3 == 1 ? "ledger" : "notification";
    KillAndRestartParticipant(kind);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(stack_.coordinator().Wait(kReapTimeout).has_value());
    ASSERT_TRUE(stack_.StartCoordinator().ok());
    faults_ += 2;
  }
  PauseRandomly(200, 300);
  HealAndCheck();
}

TEST_F(BankFaultTest, CoordinatorKilledRightAfterEachCommitDecisionUnderLoad) {
  bank_.Start();
  // Each life of the coordinator ends at its first durable COMMIT, before any Commit is sent.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(stack_.StartCoordinator({"--test_crash_point=after_commit_logged"}).ok());
    ASSERT_TRUE(stack_.coordinator().Wait(absl::Seconds(30)).has_value());
    ++faults_;
  }
  ASSERT_TRUE(stack_.StartCoordinator().ok());
  PauseRandomly(300, 500);
  HealAndCheck();
}

TEST_F(BankFaultTest, PreparedParticipantsLearnTheOutcomeWhileTheCoordinatorIsDown) {
  bank_.Start();
  PauseRandomly(300, 600);
  // Down for longer than the participants' in-doubt threshold (1 s): their resolvers ask
  // GetDecision, fail, and ask again once it is back.
  Kill(stack_.coordinator(), "the coordinator");
  ASSERT_FALSE(HasFatalFailure());
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(stack_.StartCoordinator().ok());
  ++faults_;
  PauseRandomly(300, 500);
  HealAndCheck();
}

TEST_F(BankFaultTest, LinksDropDelayAndDuplicateRequestsAndReplies) {
  // A fault proxy in front of each participant; the coordinator is pointed at the proxies.
  std::vector<std::unique_ptr<launch::Process>> proxies;
  for (const char* kind : {"balance", "ledger", "notification"}) {
    auto p = stack_.StartFaultProxy(kind, {"--drop_request=0.1", "--drop_reply=0.1",
                                           "--duplicate=0.15", "--delay_max=30ms",
                                           absl::StrCat("--seed=", seed_)});
    ASSERT_TRUE(p.ok()) << p.status();
    proxies.push_back(std::move(*p));
  }
  bank_.Start();
  absl::SleepFor(absl::Seconds(8));  // The load runs through the faulty links this long.
  // Heal: point the coordinator back at the participants themselves.
  ASSERT_TRUE(stack_.RegisterAll().ok());
  int injected = 0;
  int in_batches = 0;
  for (const char* kind : {"balance", "ledger", "notification"}) {
    injected += stack_.ProxyLogCount(kind, "\"injected\"");
    in_batches += stack_.ProxyLogCount(kind, "\"Batch\"");
  }
  faults_ = injected;
  EXPECT_GT(injected, 20) << "the proxies injected too few faults to mean anything";
  // The participants serve batches: whole batches were lost, duplicated and cut after they
  // acted, not only unary calls.
  EXPECT_GT(in_batches, 5) << "too few faults hit the batched channel";
  HealAndCheck();
}

}  // namespace
}  // namespace settle::fault
