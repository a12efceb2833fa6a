// TCC through the participant SDK: the three classic faults TCC services must survive (an empty
// Cancel, a hanging Try, duplicated Confirm or Cancel), with the real SDK behind a real gRPC
// server in this process.

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/tcc_handler.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "storage/rocks_branch_store.h"
#include "storage/txn_id.h"
#include "tests/testing/in_process_participant.h"

namespace settle::sdk {
namespace {

// Counts each call per transaction; every Try says YES.
class CountingTcc final : public TccHandler {
 public:
  Vote Try(const BranchContext& ctx, const std::string&, storage::WorkView&) override {
    absl::MutexLock lock(&mu_);
    ++calls_[ctx.txn_id]["try"];
    return Vote::Yes();
  }
  absl::Status Confirm(const BranchContext& ctx, const std::string&, storage::WorkView&) override {
    absl::MutexLock lock(&mu_);
    ++calls_[ctx.txn_id]["confirm"];
    return absl::OkStatus();
  }
  absl::Status Cancel(const BranchContext& ctx, const std::string&, storage::WorkView&) override {
    absl::MutexLock lock(&mu_);
    ++calls_[ctx.txn_id]["cancel"];
    return absl::OkStatus();
  }
  int calls(const std::string& txn_id, const std::string& method) {
    absl::MutexLock lock(&mu_);
    return calls_[txn_id][method];
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::map<std::string, int>> calls_ ABSL_GUARDED_BY(mu_);
};

class TccTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*storage::OpenRocksBranchStore(dir_.path()));
    participant_ = std::make_unique<testing::InProcessParticipant>(*store_, adapter_);
    ASSERT_TRUE(participant_->serving());
    stub_ = &participant_->stub();
  }
  void TearDown() override { participant_.reset(); }

  static std::string Txn(int n) { return storage::TxnIdFor("s9", 0x1000 + n); }

  v1::Vote Try(const std::string& txn) {
    v1::PrepareRequest req;
    req.set_txn_id(txn);
    req.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(1)));
    v1::PrepareResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->Prepare(&ctx, req, &resp).ok());
    return resp.vote();
  }
  grpc::StatusCode Confirm(const std::string& txn) {
    v1::CommitRequest req;
    req.set_txn_id(txn);
    v1::CommitResponse resp;
    grpc::ClientContext ctx;
    return stub_->Commit(&ctx, req, &resp).error_code();
  }
  grpc::StatusCode Cancel(const std::string& txn) {
    v1::AbortRequest req;
    req.set_txn_id(txn);
    v1::AbortResponse resp;
    grpc::ClientContext ctx;
    return stub_->Abort(&ctx, req, &resp).error_code();
  }

  launch::TempDir dir_;
  std::unique_ptr<storage::BranchStore> store_;
  CountingTcc tcc_;
  TccBranchHandler adapter_{tcc_};
  std::unique_ptr<testing::InProcessParticipant> participant_;
  v1::Participant::Stub* stub_ = nullptr;
};

TEST_F(TccTest, AnEmptyCancelLeavesATombstoneAndNoEffect) {
  EXPECT_EQ(Cancel(Txn(1)), grpc::StatusCode::OK);
  EXPECT_EQ(Cancel(Txn(1)), grpc::StatusCode::OK);
  EXPECT_EQ(tcc_.calls(Txn(1), "cancel"), 0);  // Nothing was reserved, so nothing to release.
}

TEST_F(TccTest, AHangingTryAfterItsCancelIsRefused) {
  ASSERT_EQ(Cancel(Txn(2)), grpc::StatusCode::OK);
  EXPECT_EQ(Try(Txn(2)), v1::VOTE_NO);
  EXPECT_EQ(tcc_.calls(Txn(2), "try"), 0);  // Reserving now would hold it for ever.
  EXPECT_EQ(Confirm(Txn(2)), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(tcc_.calls(Txn(2), "confirm"), 0);
}

TEST_F(TccTest, DuplicatedConfirmOrCancelHasOneEffect) {
  ASSERT_EQ(Try(Txn(3)), v1::VOTE_YES);
  ASSERT_EQ(Try(Txn(3)), v1::VOTE_YES);  // A duplicated Try repeats the answer.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Confirm(Txn(3)), grpc::StatusCode::OK);
  EXPECT_EQ(tcc_.calls(Txn(3), "try"), 1);
  EXPECT_EQ(tcc_.calls(Txn(3), "confirm"), 1);

  ASSERT_EQ(Try(Txn(4)), v1::VOTE_YES);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Cancel(Txn(4)), grpc::StatusCode::OK);
  EXPECT_EQ(tcc_.calls(Txn(4), "cancel"), 1);
  // Once cancelled, a late Confirm is refused, not applied.
  EXPECT_EQ(Confirm(Txn(4)), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(tcc_.calls(Txn(4), "confirm"), 0);
}

}  // namespace
}  // namespace settle::sdk
