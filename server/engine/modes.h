#ifndef SETTLE_SERVER_ENGINE_MODES_H_
#define SETTLE_SERVER_ENGINE_MODES_H_

// The table of transaction modes: what the front door and the executor may ask of a mode, so
// neither asks which mode a transaction runs (STYLE.md §10). A new mode is its protocol's file
// and one row here.

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/engine/protocol.h"
#include "storage/records.pb.h"

namespace settle::engine {

struct ModeRules {
  // OK, or INVALID_ARGUMENT naming the step that does not fit the mode's order of branches.
  absl::Status (*check_steps)(Mode mode, const std::vector<BranchSpec>& branches);
  // The branches call each other over gRPC (three-phase commit's termination protocol): every
  // participant must be reached at host:port, and each Prepare carries the other branches'
  // endpoints.
  bool branches_call_each_other = false;
  // The protocol in the state `record` holds.
  std::unique_ptr<Protocol> (*make)(storage::TxnRecord record, const ProtocolOptions& options);
};

// The rules of `mode`. Immutable; thread-safe.
const ModeRules& RulesFor(Mode mode);

// The protocol of `record`'s mode, in the state the record holds. INVALID_ARGUMENT for a mode
// this coordinator does not run (DATA_LOSS-worthy when the record came from the log).
absl::StatusOr<std::unique_ptr<Protocol>> MakeProtocol(storage::TxnRecord record,
                                                       const ProtocolOptions& options = {});

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_MODES_H_
