// The participant SDK's saga barrier through a real gRPC server in this process: an action and
// its compensation apply once each however often asked; a compensation before its action leaves
// a tombstone and the late action is refused without the handler; "in progress" asks again; a
// refusal records nothing of the handler's staged work.

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/participant_server.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "storage/rocks_branch_store.h"
#include "storage/txn_id.h"
#include "tests/testing/in_process_participant.h"

namespace settle::sdk {
namespace {

// Answers as scripted per payload ("done", "refuse", "later" = in progress), counting calls and
// staging one data write per call.
class ScriptedSaga final : public SagaHandler {
 public:
  StepOutcome Act(const BranchContext& ctx, const std::string& payload,
                  storage::WorkView& view) override {
    return Answer(ctx, "act", payload, view);
  }
  StepOutcome Compensate(const BranchContext& ctx, const std::string& payload,
                         storage::WorkView& view) override {
    return Answer(ctx, "compensate", payload, view);
  }
  int calls(const std::string& txn_id, const std::string& method) {
    absl::MutexLock lock(&mu_);
    return calls_[txn_id][method];
  }

 private:
  StepOutcome Answer(const BranchContext& ctx, const std::string& method,
                     const std::string& payload, storage::WorkView& view) {
    absl::MutexLock lock(&mu_);
    ++calls_[ctx.txn_id][method];
    view.Put(storage::Space::kData, absl::StrCat(method, "/", ctx.txn_id), payload);
    if (payload == "refuse") return StepOutcome::Refused("no");
    if (payload == "later") return StepOutcome::InProgress();
    return StepOutcome::Done();
  }

  absl::Mutex mu_;
  std::map<std::string, std::map<std::string, int>> calls_ ABSL_GUARDED_BY(mu_);
};

class BranchHandlerUnused final : public BranchHandler {
 public:
  Vote Prepare(const BranchContext&, const std::string&, storage::WorkView&) override {
    return Vote::No("saga only");
  }
  absl::Status Commit(const BranchContext&, const std::string&, storage::WorkView&) override {
    return absl::OkStatus();
  }
  absl::Status Abort(const BranchContext&, const std::string&, storage::WorkView&) override {
    return absl::OkStatus();
  }
};

class SagaBarrierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*storage::OpenRocksBranchStore(dir_.path()));
    ParticipantOptions options;
    options.saga = &saga_;
    participant_ = std::make_unique<testing::InProcessParticipant>(*store_, unused_, options);
    ASSERT_TRUE(participant_->serving());
    stub_ = &participant_->stub();
  }
  void TearDown() override { participant_.reset(); }

  static std::string Txn(int n) { return storage::TxnIdFor("s9", 0x2000 + n); }

  v1::StepOutcome Call(bool compensate, const std::string& txn, const std::string& payload) {
    v1::StepRequest req;
    req.set_txn_id(txn);
    req.set_payload(payload);
    v1::StepResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = compensate ? stub_->Compensate(&ctx, req, &resp)
                                : stub_->Act(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.outcome();
  }
  v1::StepOutcome Act(const std::string& txn, const std::string& payload = "done") {
    return Call(false, txn, payload);
  }
  v1::StepOutcome Compensate(const std::string& txn, const std::string& payload = "done") {
    return Call(true, txn, payload);
  }
  bool Staged(const std::string& method, const std::string& txn) {
    auto v = store_->Get(storage::Space::kData, absl::StrCat(method, "/", txn));
    return v.ok() && v->has_value();
  }

  launch::TempDir dir_;
  std::unique_ptr<storage::BranchStore> store_;
  ScriptedSaga saga_;
  BranchHandlerUnused unused_;
  std::unique_ptr<testing::InProcessParticipant> participant_;
  v1::Participant::Stub* stub_ = nullptr;
};

TEST_F(SagaBarrierTest, ADuplicatedActionOrCompensationHasOneEffect) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Act(Txn(1)), v1::STEP_DONE);
  EXPECT_EQ(saga_.calls(Txn(1), "act"), 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Compensate(Txn(1)), v1::STEP_DONE);
  EXPECT_EQ(saga_.calls(Txn(1), "compensate"), 1);
  // Compensated: a late duplicate of the action is refused, not applied again.
  EXPECT_EQ(Act(Txn(1)), v1::STEP_REFUSED);
  EXPECT_EQ(saga_.calls(Txn(1), "act"), 1);
}

TEST_F(SagaBarrierTest, ACompensationBeforeItsActionLeavesATombstoneAndRefusesTheAction) {
  EXPECT_EQ(Compensate(Txn(2)), v1::STEP_DONE);
  EXPECT_EQ(saga_.calls(Txn(2), "compensate"), 0);  // Nothing happened, so nothing to undo.
  EXPECT_EQ(Act(Txn(2)), v1::STEP_REFUSED);          // The hanging action never runs.
  EXPECT_EQ(saga_.calls(Txn(2), "act"), 0);
}

TEST_F(SagaBarrierTest, InProgressIsAskedAgainAndKeepsTheHandlersWork) {
  EXPECT_EQ(Act(Txn(3), "later"), v1::STEP_IN_PROGRESS);
  EXPECT_TRUE(Staged("act", Txn(3)));
  EXPECT_EQ(Act(Txn(3), "done"), v1::STEP_DONE);
  EXPECT_EQ(saga_.calls(Txn(3), "act"), 2);
  EXPECT_EQ(Compensate(Txn(3), "later"), v1::STEP_IN_PROGRESS);
  EXPECT_EQ(Compensate(Txn(3), "done"), v1::STEP_DONE);
  EXPECT_EQ(Compensate(Txn(3), "done"), v1::STEP_DONE);
  EXPECT_EQ(saga_.calls(Txn(3), "compensate"), 2);
}

TEST_F(SagaBarrierTest, ARefusalRecordsNothingOfTheHandlersWorkAndStaysRefused) {
  EXPECT_EQ(Act(Txn(4), "refuse"), v1::STEP_REFUSED);
  EXPECT_FALSE(Staged("act", Txn(4)));
  EXPECT_EQ(Act(Txn(4), "done"), v1::STEP_REFUSED);  // Refused once, refused for good.
  EXPECT_EQ(saga_.calls(Txn(4), "act"), 1);
  EXPECT_EQ(Compensate(Txn(4)), v1::STEP_DONE);      // Nothing happened: nothing to undo.
  EXPECT_EQ(saga_.calls(Txn(4), "compensate"), 0);

  // A compensation refused for good changes nothing: asked again later, it runs again.
  ASSERT_EQ(Act(Txn(5)), v1::STEP_DONE);
  EXPECT_EQ(Compensate(Txn(5), "refuse"), v1::STEP_REFUSED);
  EXPECT_EQ(Compensate(Txn(5), "done"), v1::STEP_DONE);
  EXPECT_EQ(saga_.calls(Txn(5), "compensate"), 2);
}

TEST_F(SagaBarrierTest, AParticipantWithoutSagaStepsAnswersUnimplemented) {
  testing::InProcessParticipant plain(*store_, unused_);
  v1::StepRequest req;
  req.set_txn_id(Txn(6));
  v1::StepResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(plain.stub().Act(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace settle::sdk
