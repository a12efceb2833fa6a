// The participant SDK through its seams: a fake decision source for the in-doubt resolver and a
// manual clock for every unit of work; no server, no background thread, no sleep.

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/participant_server.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "proto/time_convert.h"
#include "settle/v1/participant.pb.h"
#include "storage/rocks_branch_store.h"

namespace settle::sdk {
namespace {

using Decision = DecisionSource::Decision;

class CountingHandler final : public BranchHandler {
 public:
  Vote Prepare(const BranchContext&, const std::string&, storage::WorkView&) override {
    return Vote::Yes();
  }
  absl::Status Commit(const BranchContext& ctx, const std::string&, storage::WorkView&) override {
    committed.push_back(ctx.txn_id);
    return absl::OkStatus();
  }
  absl::Status Abort(const BranchContext& ctx, const std::string&, storage::WorkView&) override {
    aborted.push_back(ctx.txn_id);
    return absl::OkStatus();
  }
  std::vector<std::string> committed, aborted;  // Written on the store's thread, read after.
};

// Answers from a table; a transaction not in it fails as an unreachable coordinator would.
class FakeDecisions final : public DecisionSource {
 public:
  absl::StatusOr<Decision> GetDecision(const std::string& txn_id) override {
    asked.push_back(txn_id);
    auto it = answers.find(txn_id);
    if (it == answers.end()) return absl::UnavailableError("coordinator unreachable");
    return it->second;
  }
  std::map<std::string, Decision> answers;
  std::vector<std::string> asked;
};

class InDoubtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*storage::OpenRocksBranchStore(dir_.path()));
    ParticipantOptions options;
    options.decisions = &decisions_;
    options.in_doubt_after = absl::Seconds(10);
    options.clock = [this] { return now_; };
    server_ = std::make_unique<ParticipantServer>(options, *store_, handler_);
  }

  // Prepares branch 0 of `txn_id` through the SDK's own path, as a Prepare call would; the vote.
  v1::Vote Prepare(const std::string& txn_id, absl::Duration deadline_in = absl::Hours(1)) {
    v1::PrepareRequest req;
    req.set_txn_id(txn_id);
    req.set_payload("p");
    ToProtoTime(now_ + deadline_in, req.mutable_deadline());
    absl::Notification done;
    absl::Status status;
    v1::PrepareResponse resp;
    server_->ServeCall("Prepare", req.SerializeAsString(), [&](absl::Status s, std::string r) {
      status = s;
      resp.ParseFromString(r);
      done.Notify();
    });
    done.WaitForNotification();
    EXPECT_TRUE(status.ok()) << status;
    return resp.vote();
  }

  launch::TempDir dir_;
  std::unique_ptr<storage::BranchStore> store_;
  CountingHandler handler_;
  FakeDecisions decisions_;
  std::unique_ptr<ParticipantServer> server_;
  absl::Time now_ =
      absl::FromUnixSeconds(1'800'000'000);  // The manual clock; read on the store's thread.
};

TEST_F(InDoubtTest, AppliesEachDecisionAndKeepsAskingAboutTheRest) {
  const std::string commit = "s0-0000000000000001", abort = "s0-0000000000000002",
                    undecided = "s0-0000000000000003", unreachable = "s0-0000000000000004";
  for (const auto& id : {commit, abort, undecided, unreachable}) {
    ASSERT_EQ(Prepare(id), v1::VOTE_YES);
  }
  decisions_.answers = {
      {commit, Decision::kCommit}, {abort, Decision::kAbort}, {undecided, Decision::kUndecided}};
  EXPECT_EQ(server_->ResolveInDoubtOnce(now_ + absl::Minutes(1)), 2);
  EXPECT_EQ(handler_.committed, std::vector<std::string>{commit});
  EXPECT_EQ(handler_.aborted, std::vector<std::string>{abort});
  // The two still in doubt are asked again next time; the resolved ones are not.
  decisions_.asked.clear();
  EXPECT_EQ(server_->ResolveInDoubtOnce(now_ + absl::Minutes(1)), 0);
  EXPECT_EQ(decisions_.asked, (std::vector<std::string>{undecided, unreachable}));
}

TEST_F(InDoubtTest, AsksNothingAboutABranchPreparedMoreRecentlyThanTheThreshold) {
  ASSERT_EQ(Prepare("s0-0000000000000005"), v1::VOTE_YES);
  decisions_.answers = {{"s0-0000000000000005", Decision::kCommit}};
  EXPECT_EQ(server_->ResolveInDoubtOnce(now_ + absl::Seconds(9)), 0);
  EXPECT_TRUE(decisions_.asked.empty());
  EXPECT_EQ(server_->ResolveInDoubtOnce(now_ + absl::Seconds(11)), 1);
  EXPECT_EQ(handler_.committed.size(), 1u);
}

TEST_F(InDoubtTest, ADecisionThatArrivedMeanwhileIsAppliedOnce) {
  // The Commit came through the normal path after the resolver found the branch in doubt: the
  // resolver's commit is a duplicate and has no second effect.
  ASSERT_EQ(Prepare("s0-0000000000000006"), v1::VOTE_YES);
  decisions_.answers = {{"s0-0000000000000006", Decision::kCommit}};
  ASSERT_EQ(server_->ResolveInDoubtOnce(now_ + absl::Minutes(1)), 1);
  EXPECT_EQ(server_->ResolveInDoubtOnce(now_ + absl::Minutes(1)), 0);
  EXPECT_EQ(handler_.committed.size(), 1u);
}

TEST_F(InDoubtTest, APrepareIsJudgedByTheSdkClockAndRecordsItsTime) {
  EXPECT_EQ(Prepare("s0-0000000000000007", absl::Seconds(1)), v1::VOTE_YES);
  EXPECT_EQ(Prepare("s0-0000000000000008", -absl::Seconds(1)), v1::VOTE_NO);
  auto raw = store_->Get(storage::Space::kMeta, "p/" + BarrierKey("s0-0000000000000007", 0));
  ASSERT_TRUE(raw.ok() && raw->has_value());
  EXPECT_EQ(**raw, absl::StrCat(absl::ToUnixMicros(now_)));
}

}  // namespace
}  // namespace settle::sdk
