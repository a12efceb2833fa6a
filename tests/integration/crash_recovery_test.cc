// kill -9 of the coordinator after its COMMIT decision is durable and before any Commit is
// sent, then restart: every participant commits. And a damaged log stops start-up.

#include <signal.h>
#include <sys/wait.h>

#include <fstream>

#include "gtest/gtest.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

using launch::LocalStack;
using launch::WaitFor;

TEST(CrashRecoveryTest, CoordinatorKilledAfterCommitDecisionCommitsEverywhereOnRestart) {
  LocalStack stack;
  ASSERT_TRUE(stack.StartCoordinator({"--test_crash_point=after_commit_logged"}).ok());
  for (const char* kind : {"balance", "ledger", "notification"}) {
    ASSERT_TRUE(stack.StartParticipant(kind).ok());
  }
  ASSERT_TRUE(stack.RegisterAll().ok());
  ASSERT_TRUE(stack.OpenAccount("alice", 10000).ok());
  ASSERT_TRUE(stack.OpenAccount("bob", 0).ok());

  client::RetryOptions once;
  once.max_attempts = 1;
  const v1::ExecuteRequest req = client::MakeTransfer("crash-1", "alice", "bob", 2500);
  auto r = stack.client().Execute(req, once);
  EXPECT_FALSE(r.ok());  // The process died before answering.
  auto status = stack.coordinator().Wait(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGKILL);

  // In doubt: prepared everywhere, committed nowhere.
  auto alice = stack.Account("alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->available_minor(), 7500);
  EXPECT_EQ(alice->held_minor(), 2500);
  EXPECT_TRUE(stack.Journal()->empty());

  ASSERT_TRUE(stack.StartCoordinator().ok());
  ASSERT_TRUE(WaitFor([&] {
    auto a = stack.Account("alice");
    auto b = stack.Account("bob");
    auto journal = stack.Journal();
    auto outbox = stack.Outbox();
    return a.ok() && a->held_minor() == 0 && b.ok() && b->available_minor() == 2500 &&
           journal.ok() && journal->size() == 1 && outbox.ok() && outbox->size() == 1 &&
           (*outbox)[0].state() == v1::MESSAGE_STATE_READY;
  }));
  EXPECT_EQ(stack.Account("alice")->available_minor(), 7500);

  // The payment API's retry with the same key learns the outcome: COMMITTED, once.
  auto retried = stack.client().Execute(req);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->outcome(), v1::OUTCOME_COMMITTED);
  EXPECT_TRUE(retried->replayed());
  ASSERT_TRUE(WaitFor([&] {
    auto t = stack.client().GetTransactionByKey("crash-1");
    return t.ok() && t->state() == v1::TXN_STATE_COMMITTED;
  }));
  EXPECT_EQ(stack.Journal()->size(), 1u);
}

TEST(CrashRecoveryTest, PreparedBranchSurvivesParticipantKill) {
  LocalStack stack;
  ASSERT_TRUE(stack.StartAll().ok());
  ASSERT_TRUE(stack.OpenAccount("alice", 1000).ok());
  ASSERT_TRUE(stack.OpenAccount("bob", 0).ok());
  const v1::ExecuteRequest transfer = client::MakeTransfer("direct", "alice", "bob", 400);
  {
    v1::PrepareRequest prep;
    prep.set_txn_id("s9-000000000000001f");
    prep.set_payload(transfer.branches(0).payload());
    prep.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(1)));
    v1::PrepareResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stack.ParticipantStub("balance")->Prepare(&ctx, prep, &resp).ok());
    ASSERT_EQ(resp.vote(), v1::VOTE_YES);
  }
  stack.participant("balance").Signal(SIGKILL);
  ASSERT_TRUE(stack.participant("balance").Wait(absl::Seconds(10)).has_value());
  ASSERT_TRUE(stack.StartParticipant("balance", {"--in_doubt_after=1h"}).ok());
  EXPECT_EQ(stack.Account("alice")->held_minor(), 400);
  v1::CommitRequest commit;
  commit.set_txn_id("s9-000000000000001f");
  v1::CommitResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stack.ParticipantStub("balance")->Commit(&ctx, commit, &resp).ok());
  EXPECT_EQ(stack.Account("alice")->available_minor(), 600);
  EXPECT_EQ(stack.Account("alice")->held_minor(), 0);
  EXPECT_EQ(stack.Account("bob")->available_minor(), 400);
}

TEST(CrashRecoveryTest, DamagedLogStopsStartupWithDataLoss) {
  launch::TempDir dir;
  const std::string data = dir.Sub("coordinator");
  std::filesystem::create_directories(data);
  std::ofstream(data + "/000001.log") << "this is not a RocksDB log";
  auto p = launch::Process::Start(
      launch::BinaryPath("settle-coordinator"),
      {"--listen=127.0.0.1:0", "--metrics_listen=", "--data_dir=" + data}, dir.Sub("log"));
  ASSERT_TRUE(p.ok());
  auto status = (*p)->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);  // DATA_LOSS: refuses to serve.
  std::ifstream log(dir.Sub("log"));
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("refusing to start"), std::string::npos) << text;
}

// A log belongs to the shard that first wrote it: a coordinator of another shard started on the
// same folder refuses to start, naming both shards, and the owner starts on it again.
TEST(CrashRecoveryTest, AnotherShardRefusesToStartOnTheLog) {
  LocalStack stack;
  ASSERT_TRUE(stack.StartCoordinator({"--shard=s0"}).ok());
  stack.coordinator().Signal(SIGTERM);
  ASSERT_TRUE(stack.coordinator().Wait(absl::Seconds(20)).has_value());

  const std::string log_file = stack.dir() + "/s1.log";
  auto other = launch::Process::Start(
      launch::BinaryPath("settle-coordinator"),
      {"--listen=127.0.0.1:0", "--metrics_listen=", "--shard=s1",
       "--data_dir=" + stack.dir() + "/coordinator"},
      log_file);
  ASSERT_TRUE(other.ok());
  auto status = (*other)->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  std::ifstream log(log_file);
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("refusing to start"), std::string::npos) << text;
  EXPECT_NE(text.find("shard 's0'"), std::string::npos) << text;
  EXPECT_NE(text.find("shard 's1'"), std::string::npos) << text;

  ASSERT_TRUE(stack.StartCoordinator({"--shard=s0"}).ok());
}

}  // namespace
}  // namespace settle
