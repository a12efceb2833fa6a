#ifndef SETTLE_SERVER_SERVICE_BATCHED_PARTICIPANT_CHANNEL_H_
#define SETTLE_SERVER_SERVICE_BATCHED_PARTICIPANT_CHANNEL_H_

// The batched participant channel: many Prepares, Commits and Aborts to one participant in one
// gRPC Batch call (participant.proto), each answered on its own, for participants that serve
// Batch; the unary calls for those that do not. Same result contract, deadlines and TLS as the
// unary channel; the engine's circuit breaker and call budget count each branch's call as
// before, since the engine still makes one channel call per branch.

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "server/service/grpc_participant_channel.h"
#include "server/service/message_participant_channel.h"
#include "settle/v1/participant.grpc.pb.h"

namespace settle {

// Carries calls in Batch calls on one gRPC channel. A call goes out at once while no batch
// waits for its answer; otherwise it waits for the next batch, which leaves when that answer
// comes and takes everything queued (up to kMaxCalls calls or kMaxBytes). So a lone call pays
// no delay, and under load each round trip and each store write at the participant carries
// many. A batch's deadline is the earliest of its calls'. Thread-safe; always held by
// shared_ptr (an answer in flight keeps it alive).
class GrpcBatchLink final : public MessageCallLink,
                            public std::enable_shared_from_this<GrpcBatchLink> {
 public:
  // One batch in flight per participant: measured at c=64 here, 5,725 txn/s with one, 4,608
  // with two, 4,139 with four (the fewer in flight, the more each batch carries).
  static constexpr int kMaxInFlight = 1;
  static constexpr int kMaxCalls = 256;         // The participant SDK takes up to 1000.
  static constexpr size_t kMaxBytes = 1 << 20;  // Well under gRPC's 4 MiB message limit.
  // After a participant answers UNIMPLEMENTED, how long it gets unary calls before it is asked
  // again (it may have been upgraded).
  static constexpr absl::Duration kProbeAgainAfter = absl::Minutes(5);

  explicit GrpcBatchLink(std::shared_ptr<grpc::Channel> channel);

  void Call(const char* method, std::string request, absl::Time deadline, Done done) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Whether calls should go through this link: true once the participant answered an empty
  // Batch OK. While that is unknown it starts one probe (never more than one at a time) and
  // answers false, so the call goes unary meanwhile.
  bool ServesBatches(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pending {
    v1::ParticipantCall call;
    absl::Time deadline;
    Done done;
  };
  enum class Served { kUnknown, kProbing, kYes, kNo };

  // Sends batches while there is room and something queued.
  void Pump(bool one_finished) ABSL_LOCKS_EXCLUDED(mu_);
  void Send(std::shared_ptr<std::vector<Pending>> batch);
  void Answered(const grpc::Status& status, const v1::ParticipantBatchReply& reply,
                std::vector<Pending>& batch) ABSL_LOCKS_EXCLUDED(mu_);
  void Probe() ABSL_LOCKS_EXCLUDED(mu_);
  void Learned(Served served, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  const std::unique_ptr<v1::Participant::Stub> stub_;
  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  Served served_ ABSL_GUARDED_BY(mu_) = Served::kUnknown;
  absl::Time probe_after_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// engine::ParticipantChannel to a host:port participant: batches through GrpcBatchLink when the
// participant serves them, the unary calls of GrpcParticipantChannel otherwise. Thread-safe.
class BatchedParticipantChannel final : public engine::ParticipantChannel {
 public:
  explicit BatchedParticipantChannel(std::shared_ptr<grpc::Channel> channel);

  void Prepare(const engine::PrepareCall& call,
               std::function<void(absl::StatusOr<engine::VoteResult>)> done) override {
    Pick().Prepare(call, std::move(done));
  }
  void Commit(const engine::BranchRef& ref, absl::Time deadline,
              std::function<void(absl::Status)> done) override {
    Pick().Commit(ref, deadline, std::move(done));
  }
  void Abort(const engine::BranchRef& ref, absl::Time deadline,
             std::function<void(absl::Status)> done) override {
    Pick().Abort(ref, deadline, std::move(done));
  }
  void PreCommit(const engine::BranchRef& ref, absl::Time deadline,
                 std::function<void(absl::Status)> done) override {
    Pick().PreCommit(ref, deadline, std::move(done));
  }
  void Act(const engine::PrepareCall& call,
           std::function<void(absl::StatusOr<engine::StepResult>)> done) override {
    Pick().Act(call, std::move(done));
  }
  void Compensate(const engine::PrepareCall& call,
                  std::function<void(absl::StatusOr<engine::StepResult>)> done) override {
    Pick().Compensate(call, std::move(done));
  }

 private:
  engine::ParticipantChannel& Pick();

  GrpcParticipantChannel unary_;
  const std::shared_ptr<GrpcBatchLink> link_;
  MessageParticipantChannel batched_;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_BATCHED_PARTICIPANT_CHANNEL_H_
