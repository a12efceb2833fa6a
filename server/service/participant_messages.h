#ifndef SETTLE_SERVER_SERVICE_PARTICIPANT_MESSAGES_H_
#define SETTLE_SERVER_SERVICE_PARTICIPANT_MESSAGES_H_

// The engine's participant calls as participant.proto's messages, and the answers back: one
// mapping for every transport (gRPC, AMQP).

#include "absl/status/statusor.h"
#include "server/engine/participant_channel.h"
#include "settle/v1/participant.pb.h"

namespace settle {

void FillPrepareRequest(const engine::PrepareCall& call, v1::PrepareRequest* request);
void FillStepRequest(const engine::PrepareCall& call, v1::StepRequest* request);
engine::VoteResult ToVoteResult(const v1::PrepareResponse& response);
// UNKNOWN when the participant named no outcome (it is asked again).
absl::StatusOr<engine::StepResult> ToStepResult(const v1::StepResponse& response);

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_PARTICIPANT_MESSAGES_H_
