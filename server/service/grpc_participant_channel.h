#ifndef SETTLE_SERVER_SERVICE_GRPC_PARTICIPANT_CHANNEL_H_
#define SETTLE_SERVER_SERVICE_GRPC_PARTICIPANT_CHANNEL_H_

#include <memory>
#include <string>
#include <utility>

#include "grpcpp/security/credentials.h"
#include "server/engine/participant_channel.h"
#include "settle/v1/participant.grpc.pb.h"

namespace settle {

// ParticipantChannel over gRPC's callback API: no thread waits for an answer. Thread-safe.
class GrpcParticipantChannel final : public engine::ParticipantChannel {
 public:
  explicit GrpcParticipantChannel(std::shared_ptr<grpc::Channel> channel);

  void Prepare(const engine::PrepareCall& call,
               std::function<void(absl::StatusOr<engine::VoteResult>)> done) override;
  void Commit(const engine::BranchRef& ref, absl::Time deadline,
              std::function<void(absl::Status)> done) override;
  void Abort(const engine::BranchRef& ref, absl::Time deadline,
             std::function<void(absl::Status)> done) override;
  void PreCommit(const engine::BranchRef& ref, absl::Time deadline,
                 std::function<void(absl::Status)> done) override;
  void Act(const engine::PrepareCall& call,
           std::function<void(absl::StatusOr<engine::StepResult>)> done) override {
    Step(/*compensate=*/false, call, std::move(done));
  }
  void Compensate(const engine::PrepareCall& call,
                  std::function<void(absl::StatusOr<engine::StepResult>)> done) override {
    Step(/*compensate=*/true, call, std::move(done));
  }

 private:
  // Commit, Abort and PreCommit: a branch named, OK or an error.
  template <typename Request, typename Response, typename Start>
  void Deliver(Start start, const engine::BranchRef& ref, absl::Time deadline,
               std::function<void(absl::Status)> done);
  void Step(bool compensate, const engine::PrepareCall& call,
            std::function<void(absl::StatusOr<engine::StepResult>)> done);
  std::unique_ptr<v1::Participant::Stub> stub_;
};

// Makes one gRPC channel per endpoint with the process's credentials (common/credentials.h:
// TLS when a CA is configured): the batched channel (batched_participant_channel.h) when
// `batch` is set, the unary one otherwise. Thread-safe.
class GrpcParticipantChannelFactory final : public engine::ParticipantChannelFactory {
 public:
  GrpcParticipantChannelFactory(std::shared_ptr<grpc::ChannelCredentials> credentials, bool batch)
      : credentials_(std::move(credentials)), batch_(batch) {}
  absl::StatusOr<std::shared_ptr<engine::ParticipantChannel>> Create(
      const std::string& endpoint) override;

 private:
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const bool batch_;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_GRPC_PARTICIPANT_CHANNEL_H_
