// The coordinator's batched participant channel against an in-process participant whose Batch
// answers the test holds and releases: what goes out alone, what waits and shares the next
// batch, what a participant without batches gets, and how a broken batch answer fails.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/credentials.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "server/service/batched_participant_channel.h"

namespace settle {
namespace {

using launch::WaitFor;

// A participant that records what reaches it. Batch answers OK per call (a YES to a Prepare)
// unless told otherwise, and while `hold` is set keeps its answers until Release().
class FakeParticipant final : public v1::Participant::CallbackService {
 public:
  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* ctx, const v1::ParticipantBatch* req,
                                  v1::ParticipantBatchReply* resp) override {
    auto* reactor = ctx->DefaultReactor();
    absl::MutexLock lock(&mu_);
    ++batch_requests_;
    if (!serve_batches_) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no batches here"));
      return reactor;
    }
    if (req->calls_size() > 0) batch_sizes_.push_back(req->calls_size());
    for (int i = 0; i < req->calls_size() - short_replies_; ++i) {
      v1::ParticipantReply* r = resp->add_replies();
      if (req->calls(i).method() == "Prepare") {
        v1::PrepareResponse yes;
        yes.set_vote(v1::VOTE_YES);
        r->set_response(yes.SerializeAsString());
      }
    }
    if (hold_ && req->calls_size() > 0) {
      held_.push_back(reactor);
    } else {
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }
  grpc::ServerUnaryReactor* Commit(grpc::CallbackServerContext* ctx, const v1::CommitRequest*,
                                   v1::CommitResponse*) override {
    absl::MutexLock lock(&mu_);
    ++unary_calls_;
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  void Set(bool serve_batches, bool hold, int short_replies = 0) {
    absl::MutexLock lock(&mu_);
    serve_batches_ = serve_batches;
    hold_ = hold;
    short_replies_ = short_replies;
  }
  void Release() {
    std::vector<grpc::ServerUnaryReactor*> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
      hold_ = false;
    }
    for (auto* r : held) r->Finish(grpc::Status::OK);
  }
  int held() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(held_.size());
  }
  std::vector<int> batch_sizes() {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }
  int batch_requests() {
    absl::MutexLock lock(&mu_);
    return batch_requests_;
  }
  int unary_calls() {
    absl::MutexLock lock(&mu_);
    return unary_calls_;
  }

 private:
  absl::Mutex mu_;
  bool serve_batches_ ABSL_GUARDED_BY(mu_) = true;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  int short_replies_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<grpc::ServerUnaryReactor*> held_ ABSL_GUARDED_BY(mu_);
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  int batch_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int unary_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// What the channel's callbacks reported.
class Answers {
 public:
  std::function<void(absl::Status)> Expect() {
    return [this](absl::Status s) {
      absl::MutexLock lock(&mu_);
      statuses_.push_back(std::move(s));
    };
  }
  // What came once `n` answers are in (fewer after 20 s).
  std::vector<absl::Status> WaitForAll(size_t n) {
    WaitFor([&] {
      absl::MutexLock lock(&mu_);
      return statuses_.size() >= n;
    });
    absl::MutexLock lock(&mu_);
    return statuses_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Status> statuses_ ABSL_GUARDED_BY(mu_);
};

class BatchedChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", ServerCredentials({}), &port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = std::make_unique<BatchedParticipantChannel>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), ChannelCredentials({})));
  }
  void TearDown() override {
    fake_.Release();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  void Commit(Answers& answers, absl::Duration timeout = absl::Seconds(10)) {
    channel_->Commit({"s0-0000000000000001", 0}, absl::Now() + timeout, answers.Expect());
  }
  // Commits one at a time until one reaches the participant in a batch: the probe's answer
  // has been taken in.
  void UntilBatched() {
    for (int i = 0; i < 200 && fake_.batch_sizes().empty(); ++i) {
      Answers one;
      Commit(one);
      ASSERT_EQ(one.WaitForAll(1).size(), 1u);
    }
    ASSERT_FALSE(fake_.batch_sizes().empty()) << "the channel never sent a batch";
  }

  // One call in each batch the channel may have in flight, all held by the participant.
  void FillTheLanes(Answers& answers) {
    for (int i = 0; i < GrpcBatchLink::kMaxInFlight; ++i) {
      Commit(answers);
      ASSERT_TRUE(WaitFor([&] { return fake_.held() == i + 1; }));
    }
  }

  FakeParticipant fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<BatchedParticipantChannel> channel_;
};

TEST_F(BatchedChannelTest, ALoneCallGoesAtOnceAndCallsBehindFullBatchesShareTheNext) {
  ASSERT_NO_FATAL_FAILURE(UntilBatched());
  EXPECT_EQ(fake_.batch_sizes().back(), 1);  // Alone: sent at once, not held for company.
  fake_.Set(/*serve_batches=*/true, /*hold=*/true);
  Answers answers;
  FillTheLanes(answers);
  for (int i = 0; i < 10; ++i) Commit(answers);  // Every batch allowed is in flight: these wait.
  const size_t sent_before = fake_.batch_sizes().size();
  fake_.Release();
  const size_t n = GrpcBatchLink::kMaxInFlight + 10;
  const std::vector<absl::Status> all = answers.WaitForAll(n);
  ASSERT_EQ(all.size(), n);
  for (const absl::Status& s : all) EXPECT_TRUE(s.ok()) << s;
  const std::vector<int> sizes = fake_.batch_sizes();
  ASSERT_EQ(sizes.size(), sent_before + 1) << "the ten waiting calls went in one batch";
  EXPECT_EQ(sizes.back(), 10);
}

TEST_F(BatchedChannelTest, ACallThatWaitedPastItsDeadlineIsNeverSent) {
  ASSERT_NO_FATAL_FAILURE(UntilBatched());
  fake_.Set(true, /*hold=*/true);
  Answers held;
  FillTheLanes(held);
  Answers late;
  const absl::Time deadline = absl::Now() + absl::Milliseconds(50);
  channel_->Commit({"s0-0000000000000002", 0}, deadline, late.Expect());
  ASSERT_TRUE(WaitFor([&] { return absl::Now() > deadline; }));
  const size_t sent_before = fake_.batch_sizes().size();
  fake_.Release();
  const std::vector<absl::Status> answer = late.WaitForAll(1);
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0].code(), absl::StatusCode::kDeadlineExceeded) << answer[0];
  EXPECT_EQ(held.WaitForAll(GrpcBatchLink::kMaxInFlight).size(),
            static_cast<size_t>(GrpcBatchLink::kMaxInFlight));
  EXPECT_EQ(fake_.batch_sizes().size(), sent_before);  // Nothing more went out.
}

TEST_F(BatchedChannelTest, ABatchAnsweredShortFailsEveryCallInIt) {
  ASSERT_NO_FATAL_FAILURE(UntilBatched());
  fake_.Set(true, /*hold=*/true, /*short_replies=*/1);
  Answers answers;
  FillTheLanes(answers);
  Commit(answers);
  Commit(answers);
  fake_.Release();  // The held batches answer no reply for their one call, the next one of two.
  const size_t n = GrpcBatchLink::kMaxInFlight + 2;
  const std::vector<absl::Status> all = answers.WaitForAll(n);
  ASSERT_EQ(all.size(), n);
  for (const absl::Status& s : all) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnknown) << s;  // Never taken for an answer.
  }
}

TEST_F(BatchedChannelTest, AParticipantWithoutBatchesGetsUnaryCallsAndIsAskedOnce) {
  fake_.Set(/*serve_batches=*/false, false);
  for (int i = 0; i < 5; ++i) {
    Answers one;
    Commit(one);
    const std::vector<absl::Status> answer = one.WaitForAll(1);
    ASSERT_EQ(answer.size(), 1u);
    EXPECT_TRUE(answer[0].ok()) << answer[0];
  }
  EXPECT_EQ(fake_.unary_calls(), 5);
  EXPECT_EQ(fake_.batch_requests(), 1);  // The one probe; asked again only minutes later.
  EXPECT_TRUE(fake_.batch_sizes().empty());
}

TEST_F(BatchedChannelTest, AParticipantThatStopsServingBatchesGetsUnaryCallsAfterwards) {
  ASSERT_NO_FATAL_FAILURE(UntilBatched());
  fake_.Set(/*serve_batches=*/false, false);  // Replaced by a version without batches.
  Answers refused;
  Commit(refused);
  const std::vector<absl::Status> answer = refused.WaitForAll(1);
  ASSERT_EQ(answer.size(), 1u);
  // Not run there: the engine retries it (or aborts a Prepare), never takes it for an answer.
  EXPECT_EQ(answer[0].code(), absl::StatusCode::kUnavailable) << answer[0];
  const int unary_before = fake_.unary_calls();
  Answers next;
  Commit(next);
  const std::vector<absl::Status> unary = next.WaitForAll(1);
  ASSERT_EQ(unary.size(), 1u);
  EXPECT_TRUE(unary[0].ok()) << unary[0];
  EXPECT_EQ(fake_.unary_calls(), unary_before + 1);
}

}  // namespace
}  // namespace settle
