#include "server/service/message_participant_channel.h"

#include <utility>

#include "server/service/api_convert.h"
#include "server/service/participant_messages.h"
#include "settle/v1/participant.pb.h"

namespace settle {

namespace {

// Parses a reply as Response and hands it to `on_response`; errors pass through.
template <typename Response, typename Result>
MessageCallLink::Done Parsing(std::function<void(Result)> done,
                              std::function<Result(const Response&)> on_response) {
  return [done = std::move(done),
          on_response = std::move(on_response)](absl::StatusOr<std::string> bytes) {
    if (!bytes.ok()) return done(bytes.status());
    Response response;
    if (!response.ParseFromString(*bytes)) {
      return done(absl::UnknownError(absl::StrCat("the participant's reply does not parse as ",
                                                  Response::descriptor()->full_name())));
    }
    done(on_response(response));
  };
}

}  // namespace

void MessageParticipantChannel::Prepare(
    const engine::PrepareCall& call, std::function<void(absl::StatusOr<engine::VoteResult>)> done) {
  v1::PrepareRequest request;
  FillPrepareRequest(call, &request);
  link_->Call("Prepare", request.SerializeAsString(), call.deadline,
              Parsing<v1::PrepareResponse, absl::StatusOr<engine::VoteResult>>(
                  std::move(done), [](const v1::PrepareResponse& r) { return ToVoteResult(r); }));
}

void MessageParticipantChannel::Deliver(const char* method, const engine::BranchRef& ref,
                                        absl::Time deadline,
                                        std::function<void(absl::Status)> done) {
  // Commit, Abort and PreCommit requests share their fields (txn_id = 1, branch_id = 2).
  v1::CommitRequest request;
  request.set_txn_id(ref.txn_id);
  request.set_branch_id(ref.branch_id);
  link_->Call(
      method, request.SerializeAsString(), deadline,
      [done = std::move(done)](absl::StatusOr<std::string> bytes) { done(bytes.status()); });
}

void MessageParticipantChannel::Commit(const engine::BranchRef& ref, absl::Time deadline,
                                       std::function<void(absl::Status)> done) {
  Deliver("Commit", ref, deadline, std::move(done));
}

void MessageParticipantChannel::Abort(const engine::BranchRef& ref, absl::Time deadline,
                                      std::function<void(absl::Status)> done) {
  Deliver("Abort", ref, deadline, std::move(done));
}

void MessageParticipantChannel::PreCommit(const engine::BranchRef& ref, absl::Time deadline,
                                          std::function<void(absl::Status)> done) {
  Deliver("PreCommit", ref, deadline, std::move(done));
}

void MessageParticipantChannel::Step(const char* method, const engine::PrepareCall& call,
                                     std::function<void(absl::StatusOr<engine::StepResult>)> done) {
  v1::StepRequest request;
  FillStepRequest(call, &request);
  link_->Call(method, request.SerializeAsString(), call.deadline,
              Parsing<v1::StepResponse, absl::StatusOr<engine::StepResult>>(
                  std::move(done), [](const v1::StepResponse& r) { return ToStepResult(r); }));
}

void MessageParticipantChannel::Act(const engine::PrepareCall& call,
                                    std::function<void(absl::StatusOr<engine::StepResult>)> done) {
  Step("Act", call, std::move(done));
}

void MessageParticipantChannel::Compensate(
    const engine::PrepareCall& call, std::function<void(absl::StatusOr<engine::StepResult>)> done) {
  Step("Compensate", call, std::move(done));
}

}  // namespace settle
