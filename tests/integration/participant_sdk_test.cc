// The participant SDK's contract, against a real reference participant process.

#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace settle {
namespace {

using testing::WaitFor;

class ParticipantSdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stack_.StartCoordinator().ok());
    ASSERT_TRUE(stack_
                    .StartParticipant("balance", {"--in_doubt_after=300ms",
                                                  "--in_doubt_check_interval=100ms"})
                    .ok());
    ASSERT_TRUE(stack_.OpenAccount("alice", 1000).ok());
    ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
    stub_ = stack_.ParticipantStub("balance");
    payload_ = client::MakeTransfer("k", "alice", "bob", 100).branches(0).payload();
  }

  v1::PrepareResponse Prepare(const std::string& txn) {
    v1::PrepareRequest req;
    req.set_txn_id(txn);
    req.set_payload(payload_);
    v1::PrepareResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->Prepare(&ctx, req, &resp).ok());
    return resp;
  }
  grpc::StatusCode Commit(const std::string& txn) {
    v1::CommitRequest req;
    req.set_txn_id(txn);
    v1::CommitResponse resp;
    grpc::ClientContext ctx;
    return stub_->Commit(&ctx, req, &resp).error_code();
  }
  grpc::StatusCode Abort(const std::string& txn) {
    v1::AbortRequest req;
    req.set_txn_id(txn);
    v1::AbortResponse resp;
    grpc::ClientContext ctx;
    return stub_->Abort(&ctx, req, &resp).error_code();
  }
  int64_t Available(const std::string& a) { return stack_.Account(a)->available_minor(); }
  int64_t Held(const std::string& a) { return stack_.Account(a)->held_minor(); }

  testing::LocalStack stack_;
  std::unique_ptr<v1::Participant::Stub> stub_;
  std::string payload_;
};

TEST_F(ParticipantSdkTest, AbortBeforePrepareLeavesATombstoneThatRefusesALatePrepare) {
  EXPECT_EQ(Abort("s9-late"), grpc::StatusCode::OK);
  const v1::PrepareResponse late = Prepare("s9-late");
  EXPECT_EQ(late.vote(), v1::VOTE_NO);
  EXPECT_FALSE(late.reason().empty());
  EXPECT_EQ(Held("alice"), 0);
  EXPECT_EQ(Available("alice"), 1000);
}

// What keeps a barrier record's removal after its retention safe: a Prepare that arrives
// that late is past its transaction's deadline and reserves nothing.
TEST_F(ParticipantSdkTest, APrepareAfterItsDeadlineVotesNoAndReservesNothing) {
  v1::PrepareRequest req;
  req.set_txn_id("s9-expired");
  req.set_payload(payload_);
  req.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() - absl::Seconds(1)));
  v1::PrepareResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Prepare(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.vote(), v1::VOTE_NO);
  EXPECT_NE(resp.reason().find("deadline"), std::string::npos) << resp.reason();
  EXPECT_EQ(Held("alice"), 0);
  EXPECT_EQ(Available("alice"), 1000);
}

TEST_F(ParticipantSdkTest, DuplicatedPrepareAndCommitHaveOneEffect) {
  EXPECT_EQ(Prepare("s9-dup").vote(), v1::VOTE_YES);
  EXPECT_EQ(Prepare("s9-dup").vote(), v1::VOTE_YES);
  EXPECT_EQ(Held("alice"), 100);
  EXPECT_EQ(Commit("s9-dup"), grpc::StatusCode::OK);
  EXPECT_EQ(Commit("s9-dup"), grpc::StatusCode::OK);
  EXPECT_EQ(Available("alice"), 900);
  EXPECT_EQ(Held("alice"), 0);
  EXPECT_EQ(Available("bob"), 100);
  // A Commit or Abort that contradicts what happened is a protocol violation, not a no-op.
  EXPECT_EQ(Abort("s9-dup"), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Commit("s9-never-prepared"), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ParticipantSdkTest, DuplicatedAbortReleasesOnce) {
  EXPECT_EQ(Prepare("s9-ab").vote(), v1::VOTE_YES);
  EXPECT_EQ(Abort("s9-ab"), grpc::StatusCode::OK);
  EXPECT_EQ(Abort("s9-ab"), grpc::StatusCode::OK);
  EXPECT_EQ(Available("alice"), 1000);
  EXPECT_EQ(Held("alice"), 0);
  EXPECT_EQ(Commit("s9-ab"), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ParticipantSdkTest, InDoubtBranchLearnsThePresumedAbortFromTheCoordinator) {
  // The coordinator never heard of this transaction: GetDecision answers ABORT.
  EXPECT_EQ(Prepare("s0-ffffffffffffffff").vote(), v1::VOTE_YES);
  EXPECT_EQ(Held("alice"), 100);
  ASSERT_TRUE(WaitFor([&] { return Held("alice") == 0; }));
  EXPECT_EQ(Available("alice"), 1000);
}

}  // namespace
}  // namespace settle
