// The participant SDK's contract, against a real reference participant process.

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/credentials.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "launch/http_get.h"
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

// The batched channel's Batch call (participant.proto): each call answered on its own and in
// order, with the effect it has alone; a duplicate, in one batch or in a batch sent twice, has
// one effect.
TEST_F(ParticipantSdkTest, ABatchAnswersEachCallOnItsOwnAndADuplicateHasOneEffect) {
  auto call = [](const char* method, const google::protobuf::Message& request) {
    v1::ParticipantCall c;
    c.set_method(method);
    c.set_request(request.SerializeAsString());
    return c;
  };
  auto send = [&](const v1::ParticipantBatch& batch, v1::ParticipantBatchReply* reply) {
    grpc::ClientContext ctx;
    return stub_->Batch(&ctx, batch, reply);
  };
  v1::ParticipantBatchReply reply;
  ASSERT_TRUE(send({}, &reply).ok());  // The coordinator's probe: served, nothing to answer.
  EXPECT_EQ(reply.replies_size(), 0);

  v1::PrepareRequest prepare;
  prepare.set_txn_id("s9-0000000000000040");
  prepare.set_payload(payload_);
  prepare.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(1)));
  v1::PrepareRequest other = prepare;
  other.set_txn_id("s9-0000000000000041");
  v1::ParticipantBatch first;
  *first.add_calls() = call("Prepare", prepare);
  *first.add_calls() = call("Prepare", prepare);
  *first.add_calls() = call("Transfer", prepare);
  *first.add_calls() = call("Prepare", other);
  first.mutable_calls(3)->mutable_deadline()->set_seconds(
      absl::ToUnixSeconds(absl::Now() - absl::Seconds(1)));
  ASSERT_TRUE(send(first, &reply).ok());
  ASSERT_EQ(reply.replies_size(), 4);
  for (int i : {0, 1}) {
    v1::PrepareResponse vote;
    EXPECT_EQ(reply.replies(i).code(), 0) << reply.replies(i).message();
    ASSERT_TRUE(vote.ParseFromString(reply.replies(i).response()));
    EXPECT_EQ(vote.vote(), v1::VOTE_YES);
  }
  EXPECT_EQ(reply.replies(2).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(reply.replies(2).message().find("Transfer"), std::string::npos);
  EXPECT_EQ(reply.replies(3).code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(reply.replies(3).message().find("calls[3]"), std::string::npos);
  EXPECT_EQ(Held("alice"), 100);  // One reservation: the duplicate and the late call made none.

  // The decisions, sent twice as a coordinator does after a broken link: one effect each.
  v1::CommitRequest commit;
  commit.set_txn_id("s9-0000000000000040");
  v1::AbortRequest abort;
  abort.set_txn_id("s9-0000000000000041");
  v1::ParticipantBatch decisions;
  *decisions.add_calls() = call("Commit", commit);
  *decisions.add_calls() = call("Abort", abort);
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(send(decisions, &reply).ok());
    ASSERT_EQ(reply.replies_size(), 2);
    EXPECT_EQ(reply.replies(0).code(), 0) << reply.replies(0).message();
    EXPECT_EQ(reply.replies(1).code(), 0) << reply.replies(1).message();
  }
  EXPECT_EQ(Available("alice"), 900);
  EXPECT_EQ(Held("alice"), 0);
  EXPECT_EQ(Available("bob"), 100);
  EXPECT_EQ(Prepare("s9-0000000000000041").vote(), v1::VOTE_NO);  // Aborted before it came.

  // More calls than a batch may carry: refused whole, naming the field; none ran.
  v1::AbortRequest unseen;
  unseen.set_txn_id("s9-0000000000000042");
  v1::ParticipantBatch big;
  for (int i = 0; i < 1001; ++i) *big.add_calls() = call("Abort", unseen);
  const grpc::Status refused = send(big, &reply);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("calls"), std::string::npos) << refused.error_message();
  EXPECT_EQ(Prepare("s9-0000000000000042").vote(), v1::VOTE_YES);  // No tombstone was written.
}

// Payments at once through the coordinator reach a participant that serves batches in batches
// of more than one call, and every one lands.
TEST_F(ParticipantSdkTest, TheCoordinatorBatchesCallsToAParticipantThatServesThem) {
  ASSERT_TRUE(stack_.RegisterAt("balance", stack_.participant_endpoint("balance")).ok());
  constexpr int kPayments = 64;
  std::atomic<int> committed{0};
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> payers;
    for (int i = 0; i < kPayments; ++i) {
      payers.emplace_back([&, key = absl::StrCat("batch-", round, "-", i)] {
        // Its balance branch alone: the one participant this fixture runs.
        v1::ExecuteRequest pay = client::MakeTransfer(key, "alice", "bob", 1);
        pay.mutable_branches()->DeleteSubrange(1, pay.branches_size() - 1);
        auto r = stack_.client().Execute(pay);
        if (r.ok() && r->outcome() == v1::OUTCOME_COMMITTED) committed.fetch_add(1);
      });
    }
    for (auto& t : payers) t.join();
  }
  EXPECT_EQ(committed.load(), 3 * kPayments);
  EXPECT_TRUE(WaitFor([&] { return Available("bob") == 3 * kPayments; })) << Available("bob");
  EXPECT_EQ(Available("alice") + Held("alice"), 1000 - 3 * kPayments);
  const std::string metrics = stack_.participant_metrics_endpoint("balance");
  const double batches = launch::MetricSample(metrics, "settle_participant_batches_total");
  const double calls = launch::MetricSample(metrics, "settle_participant_batched_calls_total");
  // Most of the 384 Prepares and Commits came batched (the first ones go unary while the
  // coordinator's probe is answered), and batches carried more than one call.
  EXPECT_GE(calls, 3 * kPayments);
  EXPECT_GT(calls, batches) << calls << " calls in " << batches << " batches";
}

}  // namespace
}  // namespace settle
