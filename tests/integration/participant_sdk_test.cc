// The participant SDK's contract, against a real reference participant process.

#include <functional>

#include "common/credentials.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

using launch::WaitFor;

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
    req.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(1)));
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

  launch::LocalStack stack_;
  std::unique_ptr<v1::Participant::Stub> stub_;
  std::string payload_;
};

TEST_F(ParticipantSdkTest, AbortBeforePrepareLeavesATombstoneThatRefusesALatePrepare) {
  EXPECT_EQ(Abort("s9-000000000000001a"), grpc::StatusCode::OK);
  const v1::PrepareResponse late = Prepare("s9-000000000000001a");
  EXPECT_EQ(late.vote(), v1::VOTE_NO);
  EXPECT_FALSE(late.reason().empty());
  EXPECT_EQ(Held("alice"), 0);
  EXPECT_EQ(Available("alice"), 1000);
}

// What keeps a barrier record's removal after its retention safe: a Prepare that arrives
// that late is past its transaction's deadline and reserves nothing.
TEST_F(ParticipantSdkTest, APrepareAfterItsDeadlineVotesNoAndReservesNothing) {
  v1::PrepareRequest req;
  req.set_txn_id("s9-000000000000001b");
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
  EXPECT_EQ(Prepare("s9-000000000000001c").vote(), v1::VOTE_YES);
  EXPECT_EQ(Prepare("s9-000000000000001c").vote(), v1::VOTE_YES);
  EXPECT_EQ(Held("alice"), 100);
  EXPECT_EQ(Commit("s9-000000000000001c"), grpc::StatusCode::OK);
  EXPECT_EQ(Commit("s9-000000000000001c"), grpc::StatusCode::OK);
  EXPECT_EQ(Available("alice"), 900);
  EXPECT_EQ(Held("alice"), 0);
  EXPECT_EQ(Available("bob"), 100);
  // A Commit or Abort that contradicts what happened is a protocol violation, not a no-op.
  EXPECT_EQ(Abort("s9-000000000000001c"), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Commit("s9-000000000000001d"), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ParticipantSdkTest, DuplicatedAbortReleasesOnce) {
  EXPECT_EQ(Prepare("s9-000000000000001e").vote(), v1::VOTE_YES);
  EXPECT_EQ(Abort("s9-000000000000001e"), grpc::StatusCode::OK);
  EXPECT_EQ(Abort("s9-000000000000001e"), grpc::StatusCode::OK);
  EXPECT_EQ(Available("alice"), 1000);
  EXPECT_EQ(Held("alice"), 0);
  EXPECT_EQ(Commit("s9-000000000000001e"), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ParticipantSdkTest, InDoubtBranchLearnsThePresumedAbortFromTheCoordinator) {
  // The coordinator never heard of this transaction: GetDecision answers ABORT.
  EXPECT_EQ(Prepare("s0-ffffffffffffffff").vote(), v1::VOTE_YES);
  EXPECT_EQ(Held("alice"), 100);
  ASSERT_TRUE(WaitFor([&] { return Held("alice") == 0; }));
  EXPECT_EQ(Available("alice"), 1000);
}

// The Participant service took an empty or megabyte-long txn_id and a Prepare with no deadline
// (whose YES would hold the reservation for ever). Each is refused before anything is written.
TEST_F(ParticipantSdkTest, MalformedIdsAndAMissingDeadlineAreRefusedNamingTheField) {
  auto prepare = [&](const std::function<void(v1::PrepareRequest&)>& mutate) {
    v1::PrepareRequest req;
    req.set_txn_id("s9-0000000000000020");
    req.set_payload(payload_);
    req.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(1)));
    mutate(req);
    v1::PrepareResponse resp;
    grpc::ClientContext ctx;
    return stub_->Prepare(&ctx, req, &resp);
  };
  struct Case {
    const char* name;
    std::function<void(v1::PrepareRequest&)> mutate;
    const char* field;
  };
  const Case cases[] = {
      {"empty txn_id", [](v1::PrepareRequest& r) { r.clear_txn_id(); }, "txn_id"},
      {"megabyte txn_id", [](v1::PrepareRequest& r) { r.set_txn_id(std::string(1 << 20, 'x')); },
       "txn_id"},
      {"not an id", [](v1::PrepareRequest& r) { r.set_txn_id("s9-late"); }, "txn_id"},
      {"branch past the bound", [](v1::PrepareRequest& r) { r.set_branch_id(5000); }, "branch_id"},
      {"no deadline", [](v1::PrepareRequest& r) { r.clear_deadline(); }, "deadline"},
      {"invalid deadline", [](v1::PrepareRequest& r) { r.mutable_deadline()->set_nanos(-1); },
       "deadline"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const grpc::Status s = prepare(c.mutate);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find(c.field), std::string::npos) << s.error_message();
    EXPECT_LT(s.error_message().size(), 300u);
  }
  EXPECT_EQ(Commit(""), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Abort(std::string(1 << 20, 'x')), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Held("alice"), 0);
  EXPECT_TRUE(stack_.Branches("balance")->empty());
}

// A registration that points at the wrong service must not run another participant's payload;
// and ListBranches takes back only tokens it gave out.
TEST_F(ParticipantSdkTest, ACallNamingAnotherParticipantAndAForeignPageTokenAreRefused) {
  v1::PrepareRequest req;
  req.set_txn_id("s9-0000000000000030");
  req.set_participant("ledger");
  req.set_payload(payload_);
  req.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(1)));
  v1::PrepareResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status s = stub_->Prepare(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("ledger"), std::string::npos) << s.error_message();
  EXPECT_EQ(Held("alice"), 0);

  req.set_participant("balance");  // Its own name: runs.
  grpc::ClientContext ok_ctx;
  ASSERT_TRUE(stub_->Prepare(&ok_ctx, req, &resp).ok());
  EXPECT_EQ(resp.vote(), v1::VOTE_YES);

  auto inspect = v1::ParticipantInspect::NewStub(grpc::CreateChannel(
      stack_.participant_endpoint("balance"), settle::ChannelCredentials({})));
  for (const char* token : {"acct-7", "s9-0000000000000030/1", "s9-0000000000000030/xxxxx"}) {
    SCOPED_TRACE(token);
    v1::ListBranchesRequest list;
    list.set_page_token(token);
    v1::ListBranchesResponse page;
    grpc::ClientContext list_ctx;
    const grpc::Status bad = inspect->ListBranches(&list_ctx, list, &page);
    EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(bad.error_message().find("page_token"), std::string::npos);
  }
  v1::ListBranchesRequest good;
  good.set_page_token("s9-0000000000000030/00000");
  v1::ListBranchesResponse page;
  grpc::ClientContext good_ctx;
  EXPECT_TRUE(inspect->ListBranches(&good_ctx, good, &page).ok());
}

}  // namespace
}  // namespace settle
