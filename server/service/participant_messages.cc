#include "server/service/participant_messages.h"

#include "server/service/api_convert.h"

namespace settle {

void FillPrepareRequest(const engine::PrepareCall& c, v1::PrepareRequest* request) {
  request->set_txn_id(c.ref.txn_id);
  request->set_branch_id(c.ref.branch_id);
  request->set_participant(c.participant);
  request->set_payload(c.payload);
  ToProtoTime(c.deadline, request->mutable_deadline());
  if (c.three_phase_timeout > absl::ZeroDuration()) {
    auto* three = request->mutable_three_phase();
    const int64_t us = absl::ToInt64Microseconds(c.three_phase_timeout);
    three->mutable_timeout()->set_seconds(us / 1000000);
    three->mutable_timeout()->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
    for (const engine::Peer& p : c.peers) {
      auto* peer = three->add_peers();
      peer->set_branch_id(p.branch_id);
      peer->set_endpoint(p.endpoint);
    }
  }
}

void FillStepRequest(const engine::PrepareCall& c, v1::StepRequest* request) {
  request->set_txn_id(c.ref.txn_id);
  request->set_branch_id(c.ref.branch_id);
  request->set_participant(c.participant);
  request->set_payload(c.payload);
  ToProtoTime(c.deadline, request->mutable_deadline());
}

engine::VoteResult ToVoteResult(const v1::PrepareResponse& response) {
  return engine::VoteResult{response.vote() == v1::VOTE_YES, response.reason()};
}

absl::StatusOr<engine::StepResult> ToStepResult(const v1::StepResponse& response) {
  using Kind = engine::StepResult::Kind;
  switch (response.outcome()) {
    case v1::STEP_DONE:
      return engine::StepResult{Kind::kDone, ""};
    case v1::STEP_REFUSED:
      return engine::StepResult{Kind::kRefused, response.reason()};
    case v1::STEP_IN_PROGRESS:
      return engine::StepResult{Kind::kInProgress, ""};
    default:
      return absl::UnknownError("the participant answered no step outcome");
  }
}

}  // namespace settle
