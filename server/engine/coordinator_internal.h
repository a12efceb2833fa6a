#ifndef SETTLE_SERVER_ENGINE_COORDINATOR_INTERNAL_H_
#define SETTLE_SERVER_ENGINE_COORDINATOR_INTERNAL_H_

// Internal to the Coordinator's implementation files.

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "storage/records.pb.h"

namespace settle::engine::internal {

// Ids are reserved this far ahead of the counter, renewed every kIdRenewInterval: Execute finds
// an id reserved unless the log has been unwritable for two seconds.
constexpr absl::Duration kIdReservation = absl::Seconds(3);
constexpr absl::Duration kIdRenewInterval = absl::Seconds(1);

inline std::string StateName(storage::TxnStateRecord s) {
  switch (s) {
    case storage::TXN_PREPARING: return "preparing";
    case storage::TXN_COMMITTING: return "committing";
    case storage::TXN_ABORTING: return "aborting";
    case storage::TXN_COMMITTED: return "committed";
    case storage::TXN_ABORTED: return "aborted";
    default: return "unknown";
  }
}

}  // namespace settle::engine::internal

#endif  // SETTLE_SERVER_ENGINE_COORDINATOR_INTERNAL_H_
