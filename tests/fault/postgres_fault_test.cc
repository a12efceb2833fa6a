// The bank check with balance on a real PostgreSQL server: every mode mixed while the
// coordinator, the balance process and PostgreSQL itself are stopped or killed at random
// instants. Money is conserved between the SQL table and the journal, and no hold is left.

#include <signal.h>

#include "gtest/gtest.h"
#include "launch/postgres_server.h"
#include "tests/fault/fault_test.h"

namespace settle::fault {
namespace {

class PostgresFaultTest : public FaultTest {
 protected:
  void SetUp() override {
    SETTLE_START_POSTGRES_OR_SKIP(server_);
    ASSERT_TRUE(server_->CreateDatabase("bank").ok());
    ASSERT_TRUE(stack_.StartCoordinator().ok());
    ASSERT_TRUE(stack_.StartParticipant("balance", BalanceFlags()).ok());
    for (const char* kind : {"ledger", "notification", "gateway"}) {
      ASSERT_TRUE(stack_.StartParticipant(kind, ParticipantFlags()).ok());
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(bank_.Setup().ok());
  }

  std::vector<std::string> BalanceFlags() const {
    std::vector<std::string> flags = ParticipantFlags();
    flags.push_back("--store=" + server_->Dsn("bank"));
    // Short lock waits: a unit blocked behind one the server lost fails fast and is retried.
    flags.push_back("--pg_lock_timeout=2s");
    return flags;
  }

  void KillAndRestart(const std::string& name) {
    launch::Process& p = name == "coordinator" ? stack_.coordinator() : stack_.participant(name);
    Kill(p, name);
    if (HasFatalFailure()) return;
    const absl::Status started = name == "coordinator"
                                     ? stack_.StartCoordinator()
                                     : stack_.StartParticipant(name, BalanceFlags());
    ASSERT_TRUE(started.ok()) << started;
  }

  std::unique_ptr<launch::PostgresServer> server_;
  launch::LocalStack stack_;
  Bank bank_{stack_, MixedModes()};
};

TEST_F(PostgresFaultTest, CoordinatorAndBalanceKilledAtRandomInstantsInEveryMode) {
  bank_.Start();
  for (int i = 0; i < 16; ++i) {
    PauseRandomly(100, 500);
    KillAndRestart(i % 2 == 0 ? "balance" : "coordinator");
    ASSERT_FALSE(HasFatalFailure()) << "after " << faults_ << " restarts";
    ++faults_;
  }
  PauseRandomly(200, 300);
  EXPECT_GT(bank_.payments(), 20);
  HealAndCheck(bank_, absl::Seconds(90));
}

TEST_F(PostgresFaultTest, PostgresStoppedFastStoppedImmediateAndKilledUnderLoad) {
  bank_.Start();
  for (int i = 0; i < 6; ++i) {
    PauseRandomly(300, 800);
    // fast: open transactions rolled back, a checkpoint; immediate: none, recovery from the
    // WAL; kill -9 of the postmaster: the same, with its backends dying on their own.
    const int how = i % 3;
    const absl::Status down = how == 0   ? server_->Stop(/*immediate=*/false)
                                : how == 1 ? server_->Stop(/*immediate=*/true)
                                           : server_->Kill();
    ASSERT_TRUE(down.ok()) << down;
    PauseRandomly(200, 1500);  // Down this long: Prepares fail and abort, Commits wait.
    const absl::Status up = server_->Restart();
    ASSERT_TRUE(up.ok()) << up;
    ++faults_;
  }
  PauseRandomly(300, 500);
  EXPECT_GT(bank_.payments(), 20);
  HealAndCheck(bank_, absl::Seconds(90));
}

}  // namespace
}  // namespace settle::fault
