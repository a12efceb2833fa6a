#include "server/service/grpc_participant_channel.h"

#include <utility>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/status_mapping.h"
#include "proto/unary_call.h"
#include "server/service/batched_participant_channel.h"
#include "server/service/participant_messages.h"

namespace settle {

GrpcParticipantChannel::GrpcParticipantChannel(std::shared_ptr<grpc::Channel> channel)
    : stub_(v1::Participant::NewStub(std::move(channel))) {}

void GrpcParticipantChannel::Prepare(const engine::PrepareCall& c,
                                     std::function<void(absl::StatusOr<engine::VoteResult>)> done) {
  auto call = std::make_shared<UnaryCall<v1::PrepareRequest, v1::PrepareResponse>>();
  FillPrepareRequest(c, &call->request);
  auto* async = stub_->async();
  StartUnaryCall<v1::PrepareRequest, v1::PrepareResponse>(
      [async](auto... args) { async->Prepare(args...); }, c.deadline, std::move(call),
      [done = std::move(done)](const grpc::Status& s, const v1::PrepareResponse& resp) {
        if (!s.ok()) return done(FromGrpcStatus(s));
        done(ToVoteResult(resp));
      });
}

template <typename Request, typename Response, typename Start>
void GrpcParticipantChannel::Deliver(Start start, const engine::BranchRef& ref,
                                     absl::Time deadline, std::function<void(absl::Status)> done) {
  auto call = std::make_shared<UnaryCall<Request, Response>>();
  call->request.set_txn_id(ref.txn_id);
  call->request.set_branch_id(ref.branch_id);
  StartUnaryCall<Request, Response>(
      std::move(start), deadline, std::move(call),
      [done = std::move(done)](const grpc::Status& s, const Response&) {
        done(FromGrpcStatus(s));
      });
}

void GrpcParticipantChannel::Commit(const engine::BranchRef& ref, absl::Time deadline,
                                    std::function<void(absl::Status)> done) {
  auto* async = stub_->async();
  Deliver<v1::CommitRequest, v1::CommitResponse>(
      [async](auto... args) { async->Commit(args...); }, ref, deadline, std::move(done));
}

void GrpcParticipantChannel::Abort(const engine::BranchRef& ref, absl::Time deadline,
                                   std::function<void(absl::Status)> done) {
  auto* async = stub_->async();
  Deliver<v1::AbortRequest, v1::AbortResponse>(
      [async](auto... args) { async->Abort(args...); }, ref, deadline, std::move(done));
}

void GrpcParticipantChannel::PreCommit(const engine::BranchRef& ref, absl::Time deadline,
                                       std::function<void(absl::Status)> done) {
  auto* async = stub_->async();
  Deliver<v1::PreCommitRequest, v1::PreCommitResponse>(
      [async](auto... args) { async->PreCommit(args...); }, ref, deadline, std::move(done));
}

void GrpcParticipantChannel::Step(bool compensate, const engine::PrepareCall& c,
                                  std::function<void(absl::StatusOr<engine::StepResult>)> done) {
  auto call = std::make_shared<UnaryCall<v1::StepRequest, v1::StepResponse>>();
  FillStepRequest(c, &call->request);
  auto* async = stub_->async();
  auto on_done = [done = std::move(done)](const grpc::Status& s, const v1::StepResponse& resp) {
    if (!s.ok()) return done(FromGrpcStatus(s));
    done(ToStepResult(resp));
  };
  if (compensate) {
    StartUnaryCall<v1::StepRequest, v1::StepResponse>(
        [async](auto... args) { async->Compensate(args...); }, c.deadline, std::move(call),
        std::move(on_done));
  } else {
    StartUnaryCall<v1::StepRequest, v1::StepResponse>(
        [async](auto... args) { async->Act(args...); }, c.deadline, std::move(call),
        std::move(on_done));
  }
}

absl::StatusOr<std::shared_ptr<engine::ParticipantChannel>> GrpcParticipantChannelFactory::Create(
    const std::string& endpoint) {
  grpc::ChannelArguments args;
  // Reconnect quickly after a participant restarts; the engine's own backoff paces retries.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // The engine retries delivery itself, with its own backoff; gRPC's transparent retries would
  // only add their filter and buffering to every call.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  auto channel = grpc::CreateCustomChannel(endpoint, credentials_, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError("cannot create a channel to '" + endpoint + "'");
  }
  if (batch_) return std::make_shared<BatchedParticipantChannel>(std::move(channel));
  return std::make_shared<GrpcParticipantChannel>(std::move(channel));
}

}  // namespace settle
