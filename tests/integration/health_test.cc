// grpc.health.v1 on the coordinator and the participants, as probes and `settle health` see it.

#include <sys/wait.h>

#include "common/credentials.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

using HealthResponse = grpc::health::v1::HealthCheckResponse;

HealthResponse::ServingStatus Check(const std::string& endpoint) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(endpoint, settle::ChannelCredentials({})));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthResponse resp;
  if (!stub->Check(&ctx, {}, &resp).ok()) return HealthResponse::UNKNOWN;
  return resp.status();
}

int CliHealth(const launch::LocalStack& stack, const std::string& at) {
  return launch::RunToExit(launch::BinaryPath("settle"), {"health", "--at=" + at},
                           stack.dir() + "/cli.log", absl::Seconds(20))
      .exit_code;
}

TEST(HealthTest, CoordinatorAndParticipantsServeOnceReady) {
  launch::LocalStack stack;
  ASSERT_TRUE(stack.StartAll().ok());
  EXPECT_EQ(Check(stack.coordinator_endpoint()), HealthResponse::SERVING);
  for (const char* kind : {"balance", "ledger", "notification"}) {
    EXPECT_EQ(Check(stack.participant_endpoint(kind)), HealthResponse::SERVING) << kind;
  }
  EXPECT_EQ(CliHealth(stack, stack.coordinator_endpoint()), 0);
  EXPECT_NE(CliHealth(stack, launch::LocalStack::DeadEndpoint()), 0);
}

TEST(HealthTest, SigtermStopsTheCoordinatorCleanly) {
  launch::LocalStack stack;
  ASSERT_TRUE(stack.StartAll().ok());
  stack.coordinator().Signal(SIGTERM);
  auto status = stack.coordinator().Wait(absl::Seconds(20));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

}  // namespace
}  // namespace settle
