// The balance participant on a real PostgreSQL server, as real processes: payments in every mode
// through the coordinator, a crash between the business statements and their COMMIT, and the
// start-up refusals with their exit codes.

#include <sys/wait.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"
#include "launch/postgres_server.h"
#include "proto/time_convert.h"

namespace settle {
namespace {

using launch::LocalStack;

class PostgresParticipantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SETTLE_START_POSTGRES_OR_SKIP(server_);
    ASSERT_TRUE(server_->CreateDatabase("bank").ok());
  }

  std::vector<std::string> PgFlags(std::vector<std::string> more = {}) const {
    more.push_back("--store=" + server_->Dsn("bank"));
    return more;
  }

  // settle-participant's exit code with `flags`; -1 if it did not exit within a minute.
  int ExitCode(const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"--kind=balance", "--listen=127.0.0.1:0", "--metrics_listen="};
    args.insert(args.end(), flags.begin(), flags.end());
    auto p = launch::Process::Start(launch::BinaryPath("settle-participant"), args,
                                     stack_.dir() + "/refused.log");
    if (!p.ok()) return -1;
    std::optional<int> status = (*p)->Wait(absl::Seconds(60));
    return status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

  std::string Sql(const std::string& query) {
    auto r = server_->Query("bank", query);
    return r.ok() ? *r : r.status().ToString();
  }

  std::unique_ptr<launch::PostgresServer> server_;
  LocalStack stack_;
};

TEST_F(PostgresParticipantTest, PaymentsInEveryModeMoveMoneyInTheSqlTable) {
  ASSERT_TRUE(stack_.StartCoordinator().ok());
  ASSERT_TRUE(stack_.StartParticipant("balance", PgFlags()).ok());
  for (const char* kind : {"ledger", "notification", "gateway"}) {
    ASSERT_TRUE(stack_.StartParticipant(kind).ok());
  }
  ASSERT_TRUE(stack_.RegisterAll().ok());
  ASSERT_TRUE(stack_.OpenAccount("alice", 10000).ok());
  ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
  EXPECT_EQ(stack_.OpenAccount("bob", 0).code(), absl::StatusCode::kAlreadyExists);

  const std::pair<v1::Mode, int64_t> transfers[] = {
      {v1::MODE_TWO_PHASE, 1000}, {v1::MODE_UNSPECIFIED, 200}, {v1::MODE_THREE_PHASE, 30}};
  for (const auto& [mode, amount] : transfers) {
    v1::ExecuteRequest req = client::MakeTransfer(absl::StrCat("t-", mode), "alice", "bob", amount);
    req.set_mode(mode);
    req.set_wait_for_acks(true);
    auto r = stack_.client().Execute(req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->outcome(), v1::OUTCOME_COMMITTED) << v1::Mode_Name(mode);
  }
  v1::ExecuteRequest overdraw = client::MakeTransfer("t-overdraw", "alice", "bob", 1000000);
  overdraw.set_wait_for_acks(true);
  auto refused = stack_.client().Execute(overdraw);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->outcome(), v1::OUTCOME_ABORTED);
  v1::ExecuteRequest card = client::MakeCardPayment("card-1", "4111-1111-1111-1111", "bob", 7);
  card.set_wait_for_acks(true);
  auto paid = stack_.client().Execute(card);
  ASSERT_TRUE(paid.ok()) << paid.status();
  EXPECT_EQ(paid->outcome(), v1::OUTCOME_COMMITTED);

  EXPECT_EQ(Sql("SELECT account, available_minor, held_minor FROM balance_accounts ORDER BY 1"),
            "alice|8770|0\nbob|1237|0");
  // One barrier row per branch of balance's: three transfers, the refused one, the card's credit.
  EXPECT_EQ(Sql("SELECT state, count(*) FROM settle_barrier GROUP BY 1 ORDER BY 1"),
            "aborted|1\ncommitted|4");
  auto bob = stack_.Account("bob");
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->available_minor(), 1237);
}

TEST_F(PostgresParticipantTest, ACrashBeforeTheSqlCommitLeavesNeitherTheRowNorTheChange) {
  ASSERT_TRUE(
      stack_.StartParticipant("balance", PgFlags({"--test_crash_point=before_sql_commit"})).ok());
  ASSERT_TRUE(stack_.OpenAccount("alice", 500).ok());
  v1::BalancePayload debit;
  auto* posting = debit.add_postings();
  posting->set_account("alice");
  posting->set_amount_minor(-200);
  v1::PrepareRequest req;
  req.set_txn_id("s0-00000000000000aa");
  req.set_branch_id(0);
  req.set_payload(debit.SerializeAsString());
  ToProtoTime(absl::Now() + absl::Minutes(1), req.mutable_deadline());
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::PrepareResponse resp;
    EXPECT_FALSE(stack_.ParticipantStub("balance")->Prepare(&ctx, req, &resp).ok());
  }
  std::optional<int> status = stack_.participant("balance").Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value() && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
      << "the crash point was not reached";
  // PostgreSQL rolled the open transaction back when its connection died.
  EXPECT_EQ(Sql("SELECT available_minor, held_minor FROM balance_accounts"), "500|0");
  EXPECT_EQ(Sql("SELECT count(*) FROM settle_barrier"), "0");

  // The branch was never prepared: the same Prepare, after the restart, holds the money once.
  ASSERT_TRUE(stack_.StartParticipant("balance", PgFlags()).ok());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::PrepareResponse resp;
  ASSERT_TRUE(stack_.ParticipantStub("balance")->Prepare(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.vote(), v1::VOTE_YES) << resp.reason();
  EXPECT_EQ(Sql("SELECT available_minor, held_minor FROM balance_accounts"), "300|200");
  EXPECT_EQ(Sql("SELECT state FROM settle_barrier"), "prepared");
}

TEST_F(PostgresParticipantTest, StartUpRefusalsExitWithConfigurationOrDataCodes) {
  EXPECT_EQ(ExitCode({"--store=host='127.0.0.1"}), 2) << "a DSN that does not parse";
  EXPECT_EQ(ExitCode({"--store=" + server_->DsnWithPassword("bank", "wrong")}), 2)
      << "a refused login";
  ASSERT_TRUE(server_->Query("bank", "CREATE TABLE settle_barrier (id integer)").ok());
  EXPECT_EQ(ExitCode(PgFlags()), 3) << "a settle_barrier that is not Settle's";
  ASSERT_TRUE(server_->Query("bank", "DROP TABLE settle_barrier").ok());
  EXPECT_EQ(ExitCode(PgFlags({"--kind=balance", "--pg_pool_size=0"})), 2);
  // A schema from a newer Settle: made by a start that succeeds, then moved ahead.
  ASSERT_TRUE(stack_.StartParticipant("balance", PgFlags()).ok());
  stack_.participant("balance").Signal(SIGTERM);
  ASSERT_TRUE(stack_.participant("balance").Wait(absl::Seconds(30)).has_value());
  ASSERT_TRUE(server_->Query("bank", "UPDATE settle_schema SET version = 9").ok());
  EXPECT_EQ(ExitCode(PgFlags()), 3) << "a schema from the future";
}

}  // namespace
}  // namespace settle
