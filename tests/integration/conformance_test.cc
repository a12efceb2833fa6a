// The contract kit: settle-conformance passes Settle's balance participant on RocksDB and on a
// real PostgreSQL server, and fails a participant that keeps no barrier.

#include "client/conformance.h"

#include <sys/wait.h>

#include <map>
#include <memory>

#include "common/credentials.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"
#include "launch/postgres_server.h"

namespace settle {
namespace {

using launch::LocalStack;

// settle-conformance's exit code against the balance participant of `stack` (its output in the
// test's log, so a failure shows the table).
int RunKit(LocalStack& stack) {
  const std::string log = stack.dir() + "/conformance.log";
  auto p = launch::Process::Start(launch::BinaryPath("settle-conformance"),
                                   {"--participant=" + stack.participant_endpoint("balance"),
                                    "--name=balance", "--balance_account=kit"},
                                   log);
  if (!p.ok()) return -1;
  std::optional<int> status = (*p)->Wait(absl::Seconds(120));
  std::printf("%s", launch::ReadFile(log).c_str());
  return status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

TEST(ConformanceTest, BalanceOnRocksDbPassesTheKit) {
  LocalStack stack;
  ASSERT_TRUE(stack.StartParticipant("balance").ok());
  ASSERT_TRUE(stack.OpenAccount("kit", 0).ok());
  EXPECT_EQ(RunKit(stack), 0);
}

TEST(ConformanceTest, BalanceOnPostgresPassesTheKit) {
  std::unique_ptr<launch::PostgresServer> server;
  SETTLE_START_POSTGRES_OR_SKIP(server);
  ASSERT_TRUE(server->CreateDatabase("kit").ok());
  LocalStack stack;
  ASSERT_TRUE(stack.StartParticipant("balance", {"--store=" + server->Dsn("kit")}).ok());
  ASSERT_TRUE(stack.OpenAccount("kit", 0).ok());
  EXPECT_EQ(RunKit(stack), 0);
}

// A participant as one might write it by hand without the SDK: every Prepare votes YES and every
// Commit and Abort is acknowledged, remembering nothing.
class ForgetfulParticipant final : public v1::Participant::Service {
  grpc::Status Prepare(grpc::ServerContext*, const v1::PrepareRequest*,
                       v1::PrepareResponse* response) override {
    response->set_vote(v1::VOTE_YES);
    return grpc::Status::OK;
  }
  grpc::Status Commit(grpc::ServerContext*, const v1::CommitRequest*,
                      v1::CommitResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status Abort(grpc::ServerContext*, const v1::AbortRequest*, v1::AbortResponse*) override {
    return grpc::Status::OK;
  }
};

TEST(ConformanceTest, AParticipantWithoutABarrierFailsTheKit) {
  ForgetfulParticipant service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", ServerCredentials(TlsOptions()), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  auto stub = v1::Participant::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), ChannelCredentials(TlsOptions())));
  conformance::KitOptions options;
  options.payload = "anything";
  const conformance::KitReport report = conformance::RunKit(*stub, options);
  std::printf("%s", conformance::FormatReport(report).c_str());
  EXPECT_FALSE(report.passed());
  std::map<std::string, conformance::CaseResult::Verdict> verdicts;
  for (const auto& c : report.cases) verdicts[c.name] = c.verdict;
  using V = conformance::CaseResult::Verdict;
  EXPECT_EQ(verdicts["Abort before Prepare: a tombstone, the late Prepare votes NO"], V::kFail);
  EXPECT_EQ(verdicts["Commit of an unknown branch: FAILED_PRECONDITION"], V::kFail);
  EXPECT_EQ(verdicts["Prepare past its deadline votes NO and holds nothing"], V::kFail);
  EXPECT_EQ(verdicts["malformed ids: INVALID_ARGUMENT naming the field"], V::kFail);
  EXPECT_EQ(verdicts["saga: Act twice, one effect; Compensate twice, undone once"], V::kSkip);
  server->Shutdown();
}

}  // namespace
}  // namespace settle
