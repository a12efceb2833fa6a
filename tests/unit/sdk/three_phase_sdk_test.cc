// The participant SDK's side of three-phase commit: the termination rule as a table, and two
// real SDK participants (gRPC on loopback, RocksDB stores) whose timers the test runs by hand
// (TerminateDueOnce with a chosen instant: no sleeps, no background thread).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/participant_server.h"
#include "client/three_phase.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "storage/rocks_branch_store.h"
#include "storage/txn_id.h"
#include "tests/testing/in_process_participant.h"

namespace settle::sdk {
namespace {

using storage::BarrierStateRecord;
constexpr BarrierStateRecord kPrepared = storage::BARRIER_PREPARED;
constexpr BarrierStateRecord kPrecommitted = storage::BARRIER_PRECOMMITTED;
constexpr BarrierStateRecord kCommitted = storage::BARRIER_COMMITTED;
constexpr BarrierStateRecord kAborted = storage::BARRIER_ABORTED;
constexpr BarrierStateRecord kUnknown = storage::BARRIER_UNKNOWN;

struct RuleRow {
  const char* name;
  BarrierStateRecord self;
  std::vector<std::optional<BarrierStateRecord>> peers;  // nullopt: no answer.
  bool commits;
};

TEST(ThreePhaseSdkTest, TheTerminationRuleDecidesAsTheLiteratureSays) {
  const std::vector<RuleRow> rows = {
      {"everyone waiting for PreCommit", kPrepared, {kPrepared, kPrepared}, false},
      {"a peer never saw the Prepare", kPrepared, {kUnknown, kPrepared}, false},
      {"a peer is precommitted", kPrepared, {kPrecommitted, kPrepared}, true},
      {"itself precommitted, peers waiting", kPrecommitted, {kPrepared, kPrepared}, true},
      {"itself precommitted, every peer silent", kPrecommitted, {std::nullopt, std::nullopt}, true},
      {"waiting, every peer silent", kPrepared, {std::nullopt, std::nullopt}, false},
      {"a peer committed", kPrepared, {kCommitted, std::nullopt}, true},
      {"a peer aborted", kPrecommitted, {kAborted, kPrecommitted}, false},
      {"committed beats aborted (cannot both happen within the bound)", kPrepared,
       {kAborted, kCommitted}, true},
  };
  for (const RuleRow& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(internal::TerminationCommits(row.self, row.peers), row.commits);
  }
}

// Records what Commit and Abort did, per transaction.
class CountingHandler final : public BranchHandler {
 public:
  Vote Prepare(const BranchContext&, const std::string&, storage::WorkView&) override {
    return Vote::Yes();
  }
  absl::Status Commit(const BranchContext& ctx, const std::string&, storage::WorkView&) override {
    return Count(ctx, "commit");
  }
  absl::Status Abort(const BranchContext& ctx, const std::string&, storage::WorkView&) override {
    return Count(ctx, "abort");
  }
  int calls(const std::string& txn, const std::string& what) {
    absl::MutexLock lock(&mu_);
    return calls_[txn + what];
  }

 private:
  absl::Status Count(const BranchContext& ctx, const std::string& what) {
    absl::MutexLock lock(&mu_);
    ++calls_[ctx.txn_id + what];
    return absl::OkStatus();
  }
  absl::Mutex mu_;
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
};

constexpr absl::Duration kBound = absl::Milliseconds(300);

class ThreePhasePairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      stores_[i] = std::move(*storage::OpenRocksBranchStore(dirs_[i].path()));
      nodes_[i] = std::make_unique<testing::InProcessParticipant>(*stores_[i], handlers_[i]);
      ASSERT_TRUE(nodes_[i]->serving());
    }
  }
  void TearDown() override {
    for (auto& n : nodes_) n.reset();
  }

  static std::string Txn(int n) { return storage::TxnIdFor("s9", 0x3000 + n); }

  // Branch i of `txn` at node i, with the other node as its peer.
  v1::Vote Prepare(int i, const std::string& txn) {
    v1::PrepareRequest req;
    req.set_txn_id(txn);
    req.set_branch_id(static_cast<uint32_t>(i));
    req.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(1)));
    auto* three = req.mutable_three_phase();
    three->mutable_timeout()->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(kBound)));
    auto* peer = three->add_peers();
    peer->set_branch_id(static_cast<uint32_t>(1 - i));
    peer->set_endpoint(nodes_[1 - i]->endpoint());
    v1::PrepareResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = nodes_[i]->stub().Prepare(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.vote();
  }
  grpc::StatusCode PreCommit(int i, const std::string& txn) {
    v1::PreCommitRequest req;
    req.set_txn_id(txn);
    req.set_branch_id(static_cast<uint32_t>(i));
    v1::PreCommitResponse resp;
    grpc::ClientContext ctx;
    return nodes_[i]->stub().PreCommit(&ctx, req, &resp).error_code();
  }
  v1::BarrierState State(int i, const std::string& txn) {
    v1::BranchStateRequest req;
    req.set_txn_id(txn);
    req.set_branch_id(static_cast<uint32_t>(i));
    v1::BranchStateResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(nodes_[i]->stub().GetBranchState(&ctx, req, &resp).ok());
    return resp.state();
  }
  int Terminate(int i, absl::Duration after) {
    return nodes_[i]->server().TerminateDueOnce(absl::Now() + after);
  }

  launch::TempDir dirs_[2];
  std::unique_ptr<storage::BranchStore> stores_[2];
  CountingHandler handlers_[2];
  std::unique_ptr<testing::InProcessParticipant> nodes_[2];
};

TEST_F(ThreePhasePairTest, BranchesLeftWaitingForPreCommitBothAbortWithoutTheCoordinator) {
  const std::string txn = Txn(1);
  ASSERT_EQ(Prepare(0, txn), v1::VOTE_YES);
  ASSERT_EQ(Prepare(1, txn), v1::VOTE_YES);
  EXPECT_EQ(Terminate(0, absl::ZeroDuration()), 0) << "the timer has not run out yet";
  EXPECT_EQ(Terminate(0, 2 * kBound), 1);
  EXPECT_EQ(Terminate(1, 2 * kBound), 1);
  EXPECT_EQ(State(0, txn), v1::BARRIER_STATE_ABORTED);
  EXPECT_EQ(State(1, txn), v1::BARRIER_STATE_ABORTED);
  EXPECT_EQ(handlers_[0].calls(txn, "abort") + handlers_[1].calls(txn, "abort"), 2);
  EXPECT_EQ(PreCommit(0, txn), grpc::StatusCode::FAILED_PRECONDITION)
      << "a PreCommit arriving after the timer's abort is refused: the coordinator aborts too";
}

TEST_F(ThreePhasePairTest, OnePrecommittedBranchMakesBothCommitWithoutTheCoordinator) {
  const std::string txn = Txn(2);
  ASSERT_EQ(Prepare(0, txn), v1::VOTE_YES);
  ASSERT_EQ(Prepare(1, txn), v1::VOTE_YES);
  ASSERT_EQ(PreCommit(0, txn), grpc::StatusCode::OK);  // The coordinator died after this one.
  ASSERT_EQ(PreCommit(0, txn), grpc::StatusCode::OK) << "a duplicate PreCommit has one effect";
  // The waiting branch's timer runs out first: it sees a precommitted peer and commits.
  EXPECT_EQ(Terminate(1, 2 * kBound), 1);
  EXPECT_EQ(State(1, txn), v1::BARRIER_STATE_COMMITTED);
  EXPECT_EQ(Terminate(0, 2 * kBound), 1);
  EXPECT_EQ(State(0, txn), v1::BARRIER_STATE_COMMITTED);
  EXPECT_EQ(handlers_[0].calls(txn, "commit"), 1);
  EXPECT_EQ(handlers_[1].calls(txn, "commit"), 1);
}

TEST_F(ThreePhasePairTest, APrecommittedBranchAloneCommitsAndPrecommitsItsWaitingPeerFirst) {
  const std::string txn = Txn(3);
  ASSERT_EQ(Prepare(0, txn), v1::VOTE_YES);
  ASSERT_EQ(Prepare(1, txn), v1::VOTE_YES);
  ASSERT_EQ(PreCommit(0, txn), grpc::StatusCode::OK);
  EXPECT_EQ(Terminate(0, 2 * kBound), 1);
  EXPECT_EQ(State(0, txn), v1::BARRIER_STATE_COMMITTED);
  EXPECT_EQ(State(1, txn), v1::BARRIER_STATE_PRECOMMITTED)
      << "the peer was precommitted before this branch committed";
  EXPECT_EQ(Terminate(1, absl::ZeroDuration()), 0) << "its own timer restarted at its PreCommit";
  EXPECT_EQ(Terminate(1, 3 * kBound), 1);
  EXPECT_EQ(State(1, txn), v1::BARRIER_STATE_COMMITTED);
}

TEST_F(ThreePhasePairTest, TheCoordinatorsDecisionEndsTheTimer) {
  const std::string txn = Txn(4);
  ASSERT_EQ(Prepare(0, txn), v1::VOTE_YES);
  ASSERT_EQ(PreCommit(0, txn), grpc::StatusCode::OK);
  v1::CommitRequest req;
  req.set_txn_id(txn);
  req.set_branch_id(0);
  v1::CommitResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(nodes_[0]->stub().Commit(&ctx, req, &resp).ok());
  EXPECT_EQ(Terminate(0, 10 * kBound), 0) << "nothing left to terminate";
  EXPECT_EQ(handlers_[0].calls(txn, "commit"), 1);
}

TEST_F(ThreePhasePairTest, APrepareWithABadThreePhaseSectionIsRefusedNamingTheField) {
  v1::PrepareRequest req;
  req.set_txn_id(Txn(5));
  req.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(1)));
  req.mutable_three_phase()->mutable_timeout()->set_seconds(-1);
  v1::PrepareResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = nodes_[0]->stub().Prepare(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("three_phase.timeout"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace settle::sdk
