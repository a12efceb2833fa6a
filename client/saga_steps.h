#ifndef SETTLE_CLIENT_SAGA_STEPS_H_
#define SETTLE_CLIENT_SAGA_STEPS_H_

// Internal to the participant SDK: the units of work behind Participant.Act and Compensate, the
// saga's barrier. Each runs on the store's writer thread and returns true to keep its writes.

#include <cstdint>
#include <string>

#include "client/barrier.h"
#include "client/participant_server.h"

namespace settle::sdk::internal {

//   no record --Act: done--> COMMITTED (acted)      --Compensate: done--> ABORTED (compensated)
//             --Act: in progress--> PREPARED --Act again...   (Compensate of it: handler undoes)
//             --Act: refused--> ABORTED (refused)
//             --Compensate--> ABORTED tombstone: a later Act is refused without the handler
//   COMMITTED --Compensate: in progress--> COMPENSATING --Compensate again...--> ABORTED
//             --Compensate: refused for good--> stays COMMITTED (the saga parks)
// Each runs as one unit of work at `now` (the SDK's clock); returns true to keep its writes.
bool ActWork(SagaHandler& handler, const std::string& txn_id, uint32_t branch_id,
             const std::string& payload, absl::Time now, storage::WorkView& view, UnitResult& out);
bool CompensateWork(SagaHandler& handler, const std::string& txn_id, uint32_t branch_id,
                    const std::string& payload, absl::Time now, storage::WorkView& view,
                    UnitResult& out);
void ToStepResponse(const StepOutcome& step, v1::StepResponse* response);

}  // namespace settle::sdk::internal

#endif  // SETTLE_CLIENT_SAGA_STEPS_H_
